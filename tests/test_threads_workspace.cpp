// test_threads_workspace.cpp — plans under changing thread counts and CPU sets, and the bounds
// of their workspaces.
//
// A plan sizes its workspace for the threads it is prepared for (ConvPlan's contract); a run
// given a caller workspace of exactly workspace_bytes() must stay inside it whatever the thread
// count, affinity or set_num_threads() at run time (the workspace here is an exact-size heap
// block: ASan reports a write past it, and a guard pattern catches it in Release). Runs are
// bitwise identical whatever the thread count, from many threads at once, with
// set_num_threads() changed concurrently, and from inside another OpenMP parallel region.
// Every engine's workspace is independent of the image size and batch.
#include <gtest/gtest.h>
#include <omp.h>
#include <sched.h>

#include <atomic>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/check.hpp"
#include "support/problem.hpp"

namespace fc = fastconv;
using fctest::Op;
using fctest::Problem;

namespace {

constexpr Op kConvOps[] = {Op::forward, Op::transposed, Op::backward_data, Op::backward_weights};

// Restores the thread count and the CPU set when a test ends.
class ThreadState {
 public:
  ThreadState() : threads_(fc::get_num_threads()) { sched_getaffinity(0, sizeof(cpus_), &cpus_); }
  ~ThreadState() {
    sched_setaffinity(0, sizeof(cpus_), &cpus_);
    fc::set_num_threads(threads_);
  }
  // Restricts the process to its first allowed CPU; false when it has only one.
  bool restrict_to_one_cpu() const {
    if (CPU_COUNT(&cpus_) < 2) return false;
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &cpus_)) {
        CPU_SET(cpu, &one);
        break;
      }
    return sched_setaffinity(0, sizeof(one), &one) == 0;
  }
  void restore_cpus() const { sched_setaffinity(0, sizeof(cpus_), &cpus_); }

 private:
  int threads_;
  cpu_set_t cpus_;
};

// A 64-byte aligned heap block of exactly `bytes`: ASan sees any write past it.
struct ExactWorkspace {
  explicit ExactWorkspace(std::size_t bytes)
      : bytes(bytes), data(bytes ? ::operator new(bytes, std::align_val_t(64)) : nullptr) {}
  ~ExactWorkspace() {
    if (data) ::operator delete(data, std::align_val_t(64));
  }
  std::size_t bytes;
  void* data;
};

// Outputs of `problem` run on `plan` with the given workspace, as logical values.
std::vector<std::vector<double>> run_plan(const Problem& problem, const fc::ConvPlan& plan,
                                          std::vector<fctest::Tensor>& tensors, void* workspace) {
  plan.run(fctest::conv_args(problem, tensors), workspace);
  std::vector<std::vector<double>> outputs;
  for (std::size_t i = 0; i < problem.operands.size(); ++i)
    if (problem.operands[i].is_output) outputs.push_back(tensors[i].to_dense());
  return outputs;
}

// Integer-valued inputs for `problem` (exact sums), and the reference engine's outputs.
struct Case {
  Problem problem;
  std::vector<fctest::Tensor> tensors;
  std::vector<std::vector<double>> expected;
};

Case make_case(const Problem& problem, std::uint64_t seed) {
  Case c{problem, {}, {}};
  fctest::Rng rng(seed);
  c.tensors = fctest::allocate(problem, fc::DType::float32, true);
  fctest::fill_int_inputs(problem, c.tensors, rng, -3, 3);
  fctest::fill_outputs_with_sentinel(problem, c.tensors);
  std::vector<fctest::Tensor> reference = c.tensors;
  fctest::run(problem, reference, fc::Engine::reference);
  for (std::size_t i = 0; i < problem.operands.size(); ++i)
    if (problem.operands[i].is_output) c.expected.push_back(reference[i].to_dense());
  return c;
}

// The problems every engine is tried on: ResNet's res2 3x3 (winograd, implicit_gemm), a 1x1
// (pointwise), a depthwise layer, a 3-channel image (few_channels), and random ones.
std::vector<Problem> problems_for(Op op) {
  std::vector<Problem> problems;
  const auto pad1 = fc::ConvParams(2).padding({1});
  problems.push_back(fctest::make_problem(op, 1, 64, 64, {20, 20}, {3, 3}, pad1, true));
  problems.push_back(fctest::make_problem(op, 2, 32, 48, {9, 9}, {1, 1}, fc::ConvParams(2), true));
  auto depthwise = pad1;
  depthwise.group_count = 32;
  problems.push_back(fctest::make_problem(op, 1, 32, 32, {17, 17}, {3, 3}, depthwise, true));
  problems.push_back(fctest::make_problem(op, 2, 3, 16, {33, 35}, {3, 3}, pad1, true));
  for (std::uint64_t seed = 1; seed <= 6; ++seed) problems.push_back(fctest::random_problem(op, seed, true));
  return problems;
}

TEST(ThreadsWorkspace, CallerWorkspaceNeverOverrunAfterThreadsOrCpusChange) {
  const ThreadState state;
  const int processors = std::max(1, omp_get_num_procs());
  int runs = 0;
  for (const Op op : kConvOps)
    for (const Problem& problem : problems_for(op)) {
      const Case c = make_case(problem, 7);
      for (const fc::Engine engine : fc::kAllEngines) {
        // Prepared on one thread, on one CPU when the process has several.
        fc::set_num_threads(1);
        const bool restricted = state.restrict_to_one_cpu();
        std::unique_ptr<fc::ConvPlan> plan;
        try {
          plan = std::make_unique<fc::ConvPlan>(fctest::conv_kind(op), fctest::shape_args(problem),
                                                problem.params, engine);
        } catch (const fc::Error& e) {
          state.restore_cpus();
          ASSERT_EQ(e.kind(), fc::ErrorKind::engine_declined) << e.what();
          continue;
        }
        // Run with every CPU back and more threads than the plan or the machine has.
        if (restricted) state.restore_cpus();
        fc::set_num_threads(2 * processors + 1);
        const std::size_t bytes = plan->workspace_bytes();
        const ExactWorkspace workspace(bytes);
        // The same run again in a block with a guard pattern after the workspace.
        constexpr std::size_t kGuard = 4096;
        std::vector<unsigned char> block(bytes + kGuard + 64);
        unsigned char* guarded = block.data() + (64 - reinterpret_cast<std::uintptr_t>(block.data()) % 64) % 64;
        std::memset(guarded + bytes, 0xA5, kGuard);
        const std::vector<unsigned char> pattern(kGuard, 0xA5);
        std::vector<fctest::Tensor> tensors = c.tensors;
        const auto got = run_plan(problem, *plan, tensors, workspace.data);
        std::vector<fctest::Tensor> tensors2 = c.tensors;
        const auto got2 = run_plan(problem, *plan, tensors2, guarded);
        const std::string where = std::string(fc::engine_name(plan->engine())) + " " + problem.describe();
        EXPECT_EQ(std::memcmp(guarded + bytes, pattern.data(), kGuard), 0)
            << "wrote past the workspace of " << bytes << " bytes: " << where;
        EXPECT_EQ(got, c.expected) << where;
        EXPECT_EQ(got2, c.expected) << where;
        ++runs;
      }
    }
  EXPECT_GT(runs, 100);
}

// The reproducer, in C++: a plan made while the process may use one CPU, run after it
// may use all of them with set_num_threads(2).
TEST(ThreadsWorkspace, Res2PlanMadeOnOneCpuRunsOnAll) {
  const ThreadState state;
  const auto pad1 = fc::ConvParams(2).padding({1});
  const Problem problem = fctest::make_problem(Op::forward, 1, 64, 64, {56, 56}, {3, 3}, pad1, false);
  const Case c = make_case(problem, 3);
  for (const fc::Engine engine : {fc::Engine::automatic, fc::Engine::winograd, fc::Engine::implicit_gemm}) {
    const bool restricted = state.restrict_to_one_cpu();
    const fc::ConvPlan plan(fc::ConvKind::forward, fctest::shape_args(problem), problem.params, engine);
    if (restricted) state.restore_cpus();
    fc::set_num_threads(2);
    const ExactWorkspace workspace(plan.workspace_bytes());
    std::vector<fctest::Tensor> tensors = c.tensors;
    EXPECT_EQ(run_plan(problem, plan, tensors, workspace.data), c.expected) << fc::engine_name(engine);
  }
}

// One plan run from several threads at once (each with its own workspace, or the plan's own
// allocation), other plans at the same time, and another thread changing set_num_threads all
// along: every result is bitwise the single-threaded one.
TEST(ThreadsWorkspace, ConcurrentRunsWhileThreadCountChanges) {
  const ThreadState state;
  struct Job {
    Case c;
    std::unique_ptr<fc::ConvPlan> plan;
  };
  std::vector<Job> jobs;
  const auto pad1 = fc::ConvParams(2).padding({1});
  for (const fc::Engine engine : {fc::Engine::winograd, fc::Engine::implicit_gemm, fc::Engine::im2col,
                                  fc::Engine::few_channels, fc::Engine::pointwise, fc::Engine::depthwise}) {
    const std::int64_t channels = engine == fc::Engine::few_channels ? 3 : 32;
    auto params = engine == fc::Engine::pointwise ? fc::ConvParams(2) : pad1;
    if (engine == fc::Engine::depthwise) params.group_count = channels;
    const std::vector<std::int64_t> kernel = engine == fc::Engine::pointwise ? std::vector<std::int64_t>{1, 1}
                                                                             : std::vector<std::int64_t>{3, 3};
    const Problem problem = fctest::make_problem(Op::forward, 2, channels, 32, {24, 24}, kernel, params, true);
    Job job{make_case(problem, 11), nullptr};
    job.plan = std::make_unique<fc::ConvPlan>(fc::ConvKind::forward, fctest::shape_args(problem), problem.params,
                                              engine);
    jobs.push_back(std::move(job));
  }
  std::atomic<bool> stop{false};
  std::thread changer([&] {
    for (int i = 0; !stop.load(); ++i) fc::set_num_threads(1 + i % 4);
  });
  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::thread> workers;
  for (int worker = 0; worker < 4; ++worker)
    workers.emplace_back([&, worker] {
      for (int round = 0; round < 6; ++round)
        for (std::size_t j = 0; j < jobs.size(); ++j) {
          const Job& job = jobs[(j + std::size_t(worker)) % jobs.size()];
          try {
            std::vector<fctest::Tensor> tensors = job.c.tensors;
            const ExactWorkspace workspace(worker % 2 ? job.plan->workspace_bytes() : 0);
            if (run_plan(job.c.problem, *job.plan, tensors, workspace.data) != job.c.expected) ++mismatches;
          } catch (...) {
            ++errors;
          }
        }
    });
  for (std::thread& t : workers) t.join();
  stop.store(true);
  changer.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(errors.load(), 0);
}

// A run called from inside a parallel region of the caller's (OpenMP then gives the engine's
// nested regions one thread) computes every output.
TEST(ThreadsWorkspace, RunsInsideACallersParallelRegion) {
  const ThreadState state;
  fc::set_num_threads(4);
  const auto pad1 = fc::ConvParams(2).padding({1});
  std::vector<Case> cases;
  std::vector<std::unique_ptr<fc::ConvPlan>> plans;
  for (const Op op : kConvOps) {
    const Problem problem = fctest::make_problem(op, 2, 32, 32, {16, 16}, {3, 3}, pad1, true);
    cases.push_back(make_case(problem, 5));
    plans.push_back(std::make_unique<fc::ConvPlan>(fctest::conv_kind(op), fctest::shape_args(problem),
                                                   problem.params));
  }
  std::atomic<int> mismatches{0};
#pragma omp parallel for num_threads(2) schedule(static)
  for (int i = 0; i < 8; ++i) {
    const std::size_t k = std::size_t(i) % cases.size();
    std::vector<fctest::Tensor> tensors = cases[k].tensors;
    if (run_plan(cases[k].problem, *plans[k], tensors, nullptr) != cases[k].expected) ++mismatches;
  }
  EXPECT_EQ(mismatches.load(), 0);
}

// Workspace bytes of a plan for `op` on a C -> K layer of `spatial` size and `batch` images.
std::size_t workspace_of(Op op, fc::Engine engine, fc::DType dtype, std::int64_t batch, std::int64_t channels,
                         std::int64_t out_channels, std::vector<std::int64_t> spatial,
                         std::vector<std::int64_t> kernel, const fc::ConvParams& params) {
  const Problem problem = fctest::make_problem(op, batch, channels, out_channels, spatial, kernel, params, true);
  return fc::ConvPlan(fctest::conv_kind(op), fctest::shape_args(problem, dtype), problem.params, engine)
      .workspace_bytes();
}

// Every engine and direction: the workspace does not depend on the batch, and stays under one
// bound for every image size (engines that cut rows into blocks may size them by the width):
// 2 MiB per thread, 24 MiB shared (im2col's unfolded chunk and its dst chunk) and 4 copies of
// the weights.
TEST(ThreadsWorkspace, EveryWorkspaceIsBoundedIndependentlyOfImageSizeAndBatch) {
  const ThreadState state;
  fc::set_num_threads(2);
  const std::size_t threads = std::size_t(std::max(2, omp_get_num_procs()));
  struct Layer {
    std::int64_t channels, out_channels, groups;
    std::vector<std::int64_t> kernel;
    std::int64_t pad;
  };
  const Layer layers[] = {{64, 64, 1, {3, 3}, 1},  {32, 48, 1, {1, 1}, 0}, {32, 32, 32, {3, 3}, 1},
                          {3, 16, 1, {3, 3}, 1},   {16, 32, 4, {5, 5}, 2}, {128, 1, 1, {15, 15}, 7},
                          {512, 512, 1, {3, 3}, 1}};
  const std::vector<std::vector<std::int64_t>> images = {{16, 16}, {512, 512}, {2048, 1024}, {8, 20000}, {20000, 8}};
  for (const Layer& layer : layers)
    for (const Op op : kConvOps)
      for (const fc::DType dtype : {fc::DType::float32, fc::DType::float64})
        for (const fc::Engine engine : fc::kAllEngines) {
          auto params = fc::ConvParams(2).padding({layer.pad});
          params.group_count = layer.groups;
          const std::string where = std::string(fc::engine_name(engine)) + " " + fctest::op_name(op) + " " +
                                    fc::dtype_name(dtype) + " C" + std::to_string(layer.channels) + " K" +
                                    std::to_string(layer.out_channels) + " g" + std::to_string(layer.groups);
          const std::size_t weight_bytes = std::size_t(layer.out_channels * layer.channels / layer.groups *
                                                       layer.kernel[0] * layer.kernel[1]) * fc::dtype_size(dtype);
          const std::size_t bound = threads * (std::size_t(2) << 20) + (std::size_t(24) << 20) + 4 * weight_bytes;
          for (const auto& image : images) {
            std::size_t single = 0;
            try {
              single = workspace_of(op, engine, dtype, 1, layer.channels, layer.out_channels, image, layer.kernel,
                                    params);
            } catch (const fc::Error& e) {
              ASSERT_EQ(e.kind(), fc::ErrorKind::engine_declined) << e.what();
              continue;
            }
            const std::size_t batched = workspace_of(op, engine, dtype, 16, layer.channels, layer.out_channels,
                                                     image, layer.kernel, params);
            const std::string at = where + " image " + fctest::shape_string(image);
            // Images smaller than an engine's blocks may get smaller blocks than a batch of them.
            if (fctest::product(image) >= 512 * 512) {
              EXPECT_EQ(batched, single) << at;
            }
            EXPECT_LE(batched, bound) << at;
            EXPECT_LE(single, bound) << at;
            if (engine == fc::Engine::reference) {
              EXPECT_EQ(single, 0u) << at;
            }
          }
        }
}

// The example: float64 (1,128,64,64) with a (1,128,15,15) kernel and padding 7 used to
// unfold the whole image (900 MiB); now bounded, and still right.
TEST(ThreadsWorkspace, Im2colFloat64LargeKernelIsBoundedAndRight) {
  auto params = fc::ConvParams(2).padding({7});
  const Problem problem = fctest::make_problem(Op::forward, 1, 128, 1, {64, 64}, {15, 15}, params, false);
  const fc::ConvPlan plan(fc::ConvKind::forward, fctest::shape_args(problem, fc::DType::float64), problem.params);
  EXPECT_LE(plan.workspace_bytes(), std::size_t(16) << 20) << fc::engine_name(plan.engine());
  for (const Op op : kConvOps) {
    const Problem p = fctest::make_problem(op, 1, 128, 1, {40, 40}, {15, 15}, params, false);
    const std::string report = fctest::check_engine_against_reference(p, fc::Engine::im2col, fctest::ValueMode::real_f64);
    EXPECT_EQ(report, "") << report;
  }
}

// An allocation the library cannot get is an Error (out_of_memory) naming the operation, not
// std::bad_alloc: packing a 150 GB weight (a broadcast view of one value). ASan's allocator
// aborts on such a request instead of failing it, so sanitizer builds leave this case out.
TEST(ThreadsWorkspace, AllocationFailureIsAnOutOfMemoryError) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer aborts on allocations beyond its limit instead of failing them";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "AddressSanitizer aborts on allocations beyond its limit instead of failing them";
#endif
#endif
  const std::int64_t channels = 1 << 16;
  float value = 1.0f;
  const std::vector<std::int64_t> src_shape{1, channels, 3, 3}, weight_shape{channels, channels, 3, 3},
      dst_shape{1, channels, 1, 1}, zeros{0, 0, 0, 0};
  const fc::TensorView src = fc::TensorView::strided(&value, fc::DType::float32, src_shape, zeros);
  const fc::TensorView weight = fc::TensorView::strided(&value, fc::DType::float32, weight_shape, zeros);
  std::vector<float> out(static_cast<std::size_t>(channels));
  const fc::TensorView dst = fc::TensorView::contiguous(out.data(), fc::DType::float32, dst_shape);
  fc::ConvPlan plan(fc::ConvKind::forward, {.src = src, .weight = weight, .dst = dst}, fc::ConvParams(2));
  try {
    plan.pack_weights(weight);
    FAIL() << "packing 150 GB of weights succeeded";
  } catch (const fc::Error& e) {
    EXPECT_EQ(e.kind(), fc::ErrorKind::out_of_memory) << e.what();
    EXPECT_NE(std::string(e.what()).find("pack_weights"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(plan.has_packed_weights());
}

}  // namespace
