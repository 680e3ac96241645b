// Forked children (include/fastconv/threading.hpp): a child forked after the parent ran
// multi-threaded OpenMP regions must not hang (GNU OpenMP's pool does not survive fork) and
// runs on one thread with correct results; a child forked before any multi-threaded run keeps
// the thread count. Every child is waited for with a timeout, so a hang fails the test.
#include <gtest/gtest.h>
#include <omp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/engine_checks.hpp"
#include "support/problem.hpp"

namespace {

namespace fc = fastconv;
using fctest::Op;
using fctest::Problem;

constexpr int kChildTimeoutSeconds = 120;  // generous: two cores shared with other test jobs
constexpr int kChildHung = 124;            // exit status reported for a child that timed out

// Threads of this process (/proc/self/status).
int process_threads() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

// Runs `child` in a forked process (its return value is the exit status; an exception is 2) and
// returns the exit status, or kChildHung if it did not finish in time (it is then killed).
int run_in_child(const std::function<int()>& child) {
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(kChildTimeoutSeconds + 10);  // a last resort if the parent dies first
    int status = 2;
    try {
      status = child();
    } catch (...) {
    }
    _exit(status);
  }
  if (pid < 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kChildTimeoutSeconds);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return kChildHung;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A 2-D problem of ~2M multiply-adds per direction: enough work for two threads.
Problem two_thread_problem(Op op) {
  fc::ConvParams params(2);
  params.stride({1}).padding({1});
  return fctest::make_problem(op, 2, 16, 16, {24, 24}, {3, 3}, params, op != Op::backward_data);
}

constexpr Op kOps[] = {Op::forward, Op::backward_data, Op::backward_weights, Op::transposed};
constexpr std::uint64_t kInputSeed = 17;

// Every direction on auto and im2col with `threads` threads; 0 when each output equals the
// reference engine's (integer-valued inputs: exact), else 1.
int runs_match_reference(int threads) {
  for (Op op : kOps) {
    const Problem p = two_thread_problem(op);
    const auto expected = fctest::outputs_with_threads(p, fc::Engine::reference, 1, kInputSeed);
    for (fc::Engine engine : {fc::Engine::automatic, fc::Engine::im2col}) {
      if (fctest::outputs_with_threads(p, engine, threads, kInputSeed) != expected) return 1;
    }
  }
  return 0;
}

// The OpenMP pool of this process started: fastconv's own 2-thread runs, plus a 2-thread region
// as another library (PyTorch) would run, so the pool exists whatever the engines chose.
void start_thread_pool() {
  fc::set_num_threads(2);
  ASSERT_EQ(runs_match_reference(2), 0);
  int team = 0;
#pragma omp parallel num_threads(2) reduction(+ : team)
  team += 1;
  ASSERT_EQ(team, 2);
  ASSERT_GT(process_threads(), 1) << "the parent must be multi-threaded for this test to mean anything";
}

// Runs first in this program (gtest keeps definition order; ctest runs it in a process of its
// own): the process has never been multi-threaded yet.
TEST(ForkedChild, ForkedBeforeAnyThreadsKeepsTheThreadCount) {
  ASSERT_EQ(process_threads(), 1) << "must run before any multi-threaded test in this process";
  const int before = fc::get_num_threads();
  fc::set_num_threads(2);
  const int status = run_in_child([] {
    if (fc::get_num_threads() != 2) return 3;
    return runs_match_reference(2);
  });
  fc::set_num_threads(before);
  EXPECT_EQ(status, 0) << (status == kChildHung ? "the child hung" : "wrong thread count or results");
}

TEST(ForkedChild, AfterMultiThreadedParentRunsOnOneThreadAndIsCorrect) {
  const int before = fc::get_num_threads();
  start_thread_pool();
  const int status = run_in_child([] {
    if (fc::get_num_threads() != 1) return 3;
    int team = 0;  // what the engines rely on: a one-thread region works in such a child
#pragma omp parallel num_threads(1) reduction(+ : team)
    team += 1;
    if (team != 1) return 5;
    return runs_match_reference(2);  // asks for 2 threads: runs on 1
  });
  EXPECT_EQ(status, 0) << (status == kChildHung ? "the child hung" : "wrong thread count or results");
  EXPECT_EQ(fc::get_num_threads(), 2) << "the parent keeps its own count";
  fc::set_num_threads(before);
}

TEST(ForkedChild, SetNumThreadsInTheChildIsAcceptedButKeepsOneThread) {
  const int before = fc::get_num_threads();
  start_thread_pool();
  const int status = run_in_child([] {
    fc::set_num_threads(4);
    if (fc::get_num_threads() != 1) return 3;
    try {
      fc::set_num_threads(0);  // still validated
      return 4;
    } catch (const fc::Error&) {
    }
    return runs_match_reference(4);
  });
  EXPECT_EQ(status, 0) << (status == kChildHung ? "the child hung" : "wrong thread count or results");
  fc::set_num_threads(before);
}

TEST(ForkedChild, GrandchildOfMultiThreadedParentRunsToo) {
  const int before = fc::get_num_threads();
  start_thread_pool();
  const int status = run_in_child([] {
    if (runs_match_reference(2) != 0) return 1;
    return run_in_child([] { return fc::get_num_threads() == 1 ? runs_match_reference(2) : 3; });
  });
  EXPECT_EQ(status, 0) << (status == kChildHung ? "a child hung" : "wrong thread count or results");
  fc::set_num_threads(before);
}

}  // namespace
