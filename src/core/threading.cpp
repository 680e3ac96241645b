// threading.cpp — the library-wide thread count, and what a forked child gets.
//
// Default, decided once: OMP_NUM_THREADS (its first entry) when set to a positive number,
// otherwise the number of processors OpenMP may use. It deliberately ignores
// omp_set_num_threads() calls by other libraries in the process (PyTorch sets 1 at import on
// some machines), so fastconv's default does not depend on import order.
//
// Forked children. GNU OpenMP's thread pool does not survive fork(): in a child of a process
// whose pool had started (fastconv's own parallel runs, PyTorch's, anyone's: they share one
// libgomp), the first parallel region with more than one thread waits forever for threads
// that only existed in the parent. A region of one thread runs fine. So a pthread_atfork
// handler, registered when the library is loaded, looks at the process just before each fork:
// when it has more than one thread (or the count cannot be read), the child and its own
// children run fastconv on one thread, whatever set_num_threads() says, as PyTorch does in its
// DataLoader workers. A child forked from a single-threaded process (no pool yet) and a spawned
// process keep the normal thread count.
#include "fastconv/threading.hpp"

#include <fcntl.h>
#include <omp.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fastconv/error.hpp"

namespace fastconv {
namespace {

std::atomic<int> configured_threads{0};  // 0: the default

// Set in a child forked from a multi-threaded process: OpenMP's pool is unusable there.
std::atomic<bool> one_thread_after_fork{false};
// Written by the prepare handler in the parent, read by the child handler in the child.
std::atomic<bool> parent_has_threads_at_fork{false};

int default_threads() {
  static const int threads = [] {
    if (const char* value = std::getenv("OMP_NUM_THREADS")) {
      const long parsed = std::strtol(value, nullptr, 10);
      if (parsed > 0) return int(parsed);
    }
    return omp_get_num_procs() > 0 ? omp_get_num_procs() : 1;
  }();
  return threads;
}

// The number of threads of this process from /proc/self/status, or -1 when it cannot be read.
// Plain system calls and a stack buffer: safe in a fork handler.
int process_thread_count() {
  const int file = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (file < 0) return -1;
  char text[4096];
  std::size_t length = 0;
  while (length + 1 < sizeof(text)) {
    const ssize_t got = ::read(file, text + length, sizeof(text) - 1 - length);
    if (got <= 0) break;
    length += std::size_t(got);
  }
  ::close(file);
  text[length] = '\0';
  const char* field = std::strstr(text, "\nThreads:");
  if (field == nullptr) return -1;
  const long count = std::strtol(field + std::strlen("\nThreads:"), nullptr, 10);
  return count > 0 ? int(count) : -1;
}

void before_fork() { parent_has_threads_at_fork.store(process_thread_count() != 1); }
void in_child_after_fork() {
  if (parent_has_threads_at_fork.load()) one_thread_after_fork.store(true);
}

// Registered once, when the library is loaded, so that it sees every fork of the process
// (including children of processes whose pool was started by another library).
[[maybe_unused]] const bool fork_handlers_registered = [] {
  return ::pthread_atfork(before_fork, nullptr, in_child_after_fork) == 0;
}();

}  // namespace

void set_num_threads(int num_threads) {
  if (num_threads < 1) {
    throw Error(ErrorKind::invalid_argument,
                "set_num_threads: num_threads = " + std::to_string(num_threads) + "; expected >= 1");
  }
  configured_threads.store(num_threads);
}

int get_num_threads() {
  if (one_thread_after_fork.load(std::memory_order_relaxed)) return 1;
  const int configured = configured_threads.load();
  return configured > 0 ? configured : default_threads();
}

}  // namespace fastconv
