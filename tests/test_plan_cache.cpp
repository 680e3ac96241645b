// The plan cache (fastconv/plan_cache.hpp): a hit for the same problem, a miss for a change in
// any part of the key, correct results whatever the strides of a run, the size bound with
// least-recently-used eviction, concurrent use from several threads, and fork() while other
// threads use it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "fastconv/fastconv.hpp"

namespace {

namespace fc = fastconv;
using Shape = std::vector<std::int64_t>;

fc::TensorView shape_view(const Shape& shape, fc::DType dtype = fc::DType::float32) {
  return fc::TensorView::contiguous(nullptr, dtype, shape);
}

// Shapes only: what cached_plan reads.
fc::ConvArgs forward_shapes(const Shape& src, const Shape& weight, const Shape& dst,
                            fc::DType dtype = fc::DType::float32, bool bias = false) {
  fc::ConvArgs args{.src = shape_view(src, dtype), .weight = shape_view(weight, dtype),
                    .dst = shape_view(dst, dtype)};
  if (bias) args.bias = shape_view({weight[0]}, dtype);
  return args;
}

class PlanCache : public testing::Test {
 protected:
  void SetUp() override {
    fc::set_plan_cache_capacity(256);
    fc::clear_plan_cache();
    threads_ = fc::get_num_threads();
  }
  void TearDown() override {
    fc::set_num_threads(threads_);
    fc::set_plan_cache_capacity(256);
    fc::clear_plan_cache();
  }
  int threads_ = 1;
};

const fc::ConvParams kSame = fc::ConvParams(2).padding({1});
const fc::ConvArgs kBase = forward_shapes({1, 4, 8, 8}, {6, 4, 3, 3}, {1, 6, 8, 8});

TEST_F(PlanCache, SameProblemHits) {
  const auto first = fc::cached_plan(fc::ConvKind::forward, kBase, kSame);
  const auto second = fc::cached_plan(fc::ConvKind::forward, kBase, kSame);
  EXPECT_EQ(first.get(), second.get());
  const fc::PlanCacheStats stats = fc::plan_cache_stats();
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.size, 1u);
}

// Each variation must get its own plan, and that plan must describe the varied problem.
TEST_F(PlanCache, EveryKeyPartMisses) {
  const auto base = fc::cached_plan(fc::ConvKind::forward, kBase, kSame);
  std::vector<std::shared_ptr<const fc::ConvPlan>> plans{base};
  const auto expect_new = [&](std::shared_ptr<const fc::ConvPlan> plan, const char* what) {
    for (const auto& other : plans) EXPECT_NE(plan.get(), other.get()) << what;
    plans.push_back(plan);
  };
  expect_new(fc::cached_plan(fc::ConvKind::forward, forward_shapes({2, 4, 8, 8}, {6, 4, 3, 3}, {2, 6, 8, 8}), kSame),
             "batch");
  expect_new(fc::cached_plan(fc::ConvKind::forward, forward_shapes({1, 4, 9, 8}, {6, 4, 3, 3}, {1, 6, 9, 8}), kSame),
             "height");
  expect_new(fc::cached_plan(fc::ConvKind::forward,
                             forward_shapes({1, 4, 8, 8}, {6, 4, 3, 3}, {1, 6, 8, 8}, fc::DType::float64), kSame),
             "dtype");
  expect_new(fc::cached_plan(fc::ConvKind::forward,
                             forward_shapes({1, 4, 8, 8}, {6, 4, 3, 3}, {1, 6, 8, 8}, fc::DType::float32, true), kSame),
             "bias");
  expect_new(fc::cached_plan(fc::ConvKind::forward, forward_shapes({1, 4, 8, 8}, {6, 4, 3, 3}, {1, 6, 4, 4}),
                             fc::ConvParams(2).padding({1}).stride({2})),
             "stride");
  expect_new(fc::cached_plan(fc::ConvKind::forward, forward_shapes({1, 4, 8, 8}, {6, 4, 3, 3}, {1, 6, 8, 9}),
                             fc::ConvParams(2).padding({1, 1}, {1, 2})),
             "asymmetric padding");
  expect_new(fc::cached_plan(fc::ConvKind::forward, forward_shapes({1, 4, 8, 8}, {6, 4, 3, 3}, {1, 6, 8, 8}),
                             fc::ConvParams(2).padding({2}).dilation({2})),
             "dilation");
  expect_new(fc::cached_plan(fc::ConvKind::forward, forward_shapes({1, 4, 8, 8}, {6, 2, 3, 3}, {1, 6, 8, 8}),
                             fc::ConvParams(2).padding({1}).groups(2)),
             "groups");
  expect_new(fc::cached_plan(fc::ConvKind::forward, kBase, kSame, fc::Engine::reference), "engine");
  expect_new(fc::cached_plan(fc::ConvKind::transposed,
                             {.src = shape_view({1, 6, 8, 8}), .weight = shape_view({6, 4, 3, 3}),
                              .dst = shape_view({1, 4, 8, 8})},
                             kSame),
             "kind");
  const fc::InnerOp adder = fc::InnerOp::catalog("abs_diff_sum");
  expect_new(fc::cached_plan(fc::ConvKind::forward, kBase, kSame, fc::Engine::automatic, adder), "inner op");
  expect_new(fc::cached_plan(fc::ConvKind::forward, kBase, kSame, fc::Engine::automatic,
                             fc::InnerOp::catalog("abs_diff_sum").pad_value(-1.0)),
             "pad value");
  expect_new(fc::cached_plan(fc::ConvKind::forward, kBase, kSame, fc::Engine::automatic,
                             fc::InnerOp::catalog("abs_diff_sum").epilogue("relu")),
             "epilogue");
  expect_new(fc::cached_plan(fc::ConvKind::forward, kBase, kSame, fc::Engine::automatic,
                             fc::InnerOp().epilogue("polynomial", {1.0, 2.0})),
             "epilogue parameters (1)");
  expect_new(fc::cached_plan(fc::ConvKind::forward, kBase, kSame, fc::Engine::automatic,
                             fc::InnerOp().epilogue("polynomial", {1.0, 3.0})),
             "epilogue parameters (2)");
  fc::set_num_threads(threads_ + 1);
  const auto more_threads = fc::cached_plan(fc::ConvKind::forward, kBase, kSame);
  expect_new(more_threads, "thread count");
  fc::set_num_threads(threads_);
  EXPECT_EQ(fc::cached_plan(fc::ConvKind::forward, kBase, kSame).get(), base.get()) << "back to the first";
  ::setenv("FASTCONV_IM2COL_CHUNK_BYTES", "4096", 1);
  expect_new(fc::cached_plan(fc::ConvKind::forward, kBase, kSame, fc::Engine::im2col), "environment (1)");
  ::setenv("FASTCONV_IM2COL_CHUNK_BYTES", "8192", 1);
  expect_new(fc::cached_plan(fc::ConvKind::forward, kBase, kSame, fc::Engine::im2col), "environment (2)");
  ::unsetenv("FASTCONV_IM2COL_CHUNK_BYTES");
  EXPECT_EQ(fc::plan_cache_stats().misses, plans.size());
  EXPECT_EQ(fc::plan_cache_stats().hits, 1u);
}

TEST_F(PlanCache, RefusedProblemsAreNotCached) {
  const fc::ConvArgs wrong = forward_shapes({1, 4, 8, 8}, {6, 4, 3, 3}, {1, 6, 7, 7});  // dst too small
  EXPECT_THROW(fc::cached_plan(fc::ConvKind::forward, wrong, kSame), fc::Error);
  EXPECT_THROW(fc::cached_plan(fc::ConvKind::forward, wrong, kSame), fc::Error);
  EXPECT_EQ(fc::plan_cache_stats().size, 0u);
}

// Deterministic values, exact in float32 sums of a few products.
std::vector<float> ramp(std::size_t count, int period, float scale) {
  std::vector<float> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = float(int(i % std::size_t(period)) - period / 2) * scale;
  return values;
}

// One cached plan, runs on differently strided views: each matches the reference engine.
TEST_F(PlanCache, StridesAreCheckedPerRunNotCached) {
  const std::vector<float> weight = ramp(6 * 4 * 9, 7, 0.5f);
  const std::vector<float> dense = ramp(4 * 8 * 8, 11, 0.25f);
  // The same values in channels-last memory and cropped out of a wider buffer.
  std::vector<float> last(dense.size()), wide(4 * 8 * 12, -1000.0f);
  for (int c = 0; c < 4; ++c)
    for (int h = 0; h < 8; ++h)
      for (int w = 0; w < 8; ++w) {
        last[std::size_t((h * 8 + w) * 4 + c)] = dense[std::size_t((c * 8 + h) * 8 + w)];
        wide[std::size_t((c * 8 + h) * 12 + w + 2)] = dense[std::size_t((c * 8 + h) * 8 + w)];
      }
  const Shape src_shape{1, 4, 8, 8};
  const fc::TensorView w_view = fc::make_view(weight.data(), {6, 4, 3, 3});
  const fc::TensorView sources[] = {
      fc::TensorView::contiguous(const_cast<float*>(dense.data()), fc::DType::float32, src_shape),
      fc::TensorView::channels_last(last.data(), fc::DType::float32, src_shape),
      fc::TensorView::strided(wide.data() + 2, fc::DType::float32, src_shape, Shape{4 * 8 * 12, 8 * 12, 12, 1})};
  std::vector<float> expected(6 * 8 * 8);
  const fc::TensorView expected_view = fc::make_view(expected.data(), {1, 6, 8, 8});
  fc::ConvPlan(fc::ConvKind::forward, {.src = sources[0], .weight = w_view, .dst = expected_view}, kSame,
               fc::Engine::reference)
      .run({.src = sources[0], .weight = w_view, .dst = expected_view});
  for (const fc::TensorView& src : sources) {
    std::vector<float> got(6 * 8 * 8, -1.0f);
    std::vector<float> got_last(6 * 8 * 8, -1.0f);
    fc::conv_forward(src, w_view, nullptr, fc::make_view(got.data(), {1, 6, 8, 8}), kSame);
    fc::conv_forward(src, w_view, nullptr, fc::make_channels_last_view(got_last.data(), {1, 6, 8, 8}), kSame);
    for (int k = 0; k < 6; ++k)
      for (int p = 0; p < 64; ++p) {
        ASSERT_EQ(got[std::size_t(k * 64 + p)], expected[std::size_t(k * 64 + p)]);
        ASSERT_EQ(got_last[std::size_t(p * 6 + k)], expected[std::size_t(k * 64 + p)]);
      }
  }
  const fc::PlanCacheStats stats = fc::plan_cache_stats();
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.hits, 5u);
}

TEST_F(PlanCache, CachedPlanStillChecksOperands) {
  std::vector<float> src(4 * 8 * 8), weight(6 * 4 * 9), dst(6 * 8 * 8);
  fc::conv_forward(fc::make_view(src.data(), {1, 4, 8, 8}), fc::make_view(weight.data(), {6, 4, 3, 3}), nullptr,
                   fc::make_view(dst.data(), {1, 6, 8, 8}), kSame);
  // Same shapes, but dst overlaps src now: refused by the cached plan's run.
  std::vector<float> shared(6 * 8 * 8);
  EXPECT_THROW(fc::conv_forward(fc::make_view(shared.data(), {1, 4, 8, 8}), fc::make_view(weight.data(), {6, 4, 3, 3}),
                                nullptr, fc::make_view(shared.data(), {1, 6, 8, 8}), kSame),
               fc::Error);
  EXPECT_EQ(fc::plan_cache_stats().hits, 1u);
}

TEST_F(PlanCache, BoundedLeastRecentlyUsedFirst) {
  fc::set_plan_cache_capacity(3);
  const auto problem = [](std::int64_t width) {
    return forward_shapes({1, 2, 5, width}, {2, 2, 3, 3}, {1, 2, 3, width - 2});
  };
  const fc::ConvParams valid(2);
  const auto first = fc::cached_plan(fc::ConvKind::forward, problem(5), valid);
  fc::cached_plan(fc::ConvKind::forward, problem(6), valid);
  fc::cached_plan(fc::ConvKind::forward, problem(7), valid);
  EXPECT_EQ(fc::cached_plan(fc::ConvKind::forward, problem(5), valid).get(), first.get());  // now newest
  fc::cached_plan(fc::ConvKind::forward, problem(8), valid);                                 // evicts 6
  fc::PlanCacheStats stats = fc::plan_cache_stats();
  EXPECT_EQ(stats.size, 3u);
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_EQ(fc::cached_plan(fc::ConvKind::forward, problem(5), valid).get(), first.get());
  fc::cached_plan(fc::ConvKind::forward, problem(6), valid);  // a miss again
  stats = fc::plan_cache_stats();
  EXPECT_EQ(stats.misses, 5u);
  EXPECT_EQ(stats.hits, 2u);
  for (std::int64_t width = 9; width < 40; ++width) fc::cached_plan(fc::ConvKind::forward, problem(width), valid);
  EXPECT_EQ(fc::plan_cache_stats().size, 3u);
  EXPECT_EQ(first.use_count(), 1) << "evicted, still held by the caller";
  fc::set_plan_cache_capacity(1);
  EXPECT_EQ(fc::plan_cache_stats().size, 1u);
  fc::set_plan_cache_capacity(0);  // no caching: every call plans afresh
  EXPECT_EQ(fc::plan_cache_stats().size, 0u);
  const auto a = fc::cached_plan(fc::ConvKind::forward, problem(5), valid);
  const auto b = fc::cached_plan(fc::ConvKind::forward, problem(5), valid);
  EXPECT_NE(a.get(), b.get());
  EXPECT_EQ(fc::plan_cache_stats().size, 0u);
}

// Several threads run one-call convolutions of a few problems through a cache smaller than
// that set (so plans are created, evicted and shared at once); every result is checked.
TEST_F(PlanCache, ConcurrentCallsGetCorrectResults) {
  fc::set_plan_cache_capacity(2);
  constexpr int kThreads = 4, kRounds = 60, kProblems = 4;
  std::vector<std::vector<float>> weights, sources, expected;
  for (int p = 0; p < kProblems; ++p) {
    const std::int64_t width = 6 + p;
    weights.push_back(ramp(3 * 2 * 9, 5 + p, 0.5f));
    sources.push_back(ramp(std::size_t(2 * 6 * width), 9, 0.25f));
    expected.emplace_back(std::size_t(3 * 6 * width));
    const fc::ConvArgs args{.src = fc::TensorView::contiguous(sources[p].data(), fc::DType::float32, Shape{1, 2, 6, width}),
                            .weight = fc::make_view(weights[p].data(), {3, 2, 3, 3}),
                            .dst = fc::TensorView::contiguous(expected[p].data(), fc::DType::float32, Shape{1, 3, 6, width})};
    fc::ConvPlan(fc::ConvKind::forward, args, kSame, fc::Engine::reference).run(args);
  }
  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        const int p = (round + t) % kProblems;
        const std::int64_t width = 6 + p;
        std::vector<float> dst(std::size_t(3 * 6 * width), -1.0f);
        try {
          fc::conv_forward(fc::TensorView::contiguous(sources[std::size_t(p)].data(), fc::DType::float32, Shape{1, 2, 6, width}),
                           fc::make_view(weights[std::size_t(p)].data(), {3, 2, 3, 3}), nullptr,
                           fc::TensorView::contiguous(dst.data(), fc::DType::float32, Shape{1, 3, 6, width}), kSame);
        } catch (...) {
          ++errors;
          continue;
        }
        if (dst != expected[std::size_t(p)]) ++mismatches;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  const fc::PlanCacheStats stats = fc::plan_cache_stats();
  EXPECT_EQ(stats.hits + stats.misses, std::uint64_t(kThreads * kRounds));
  EXPECT_LE(stats.size, 2u);
}

// fork() while other threads use the cache: the child must be able to use it (its lock is
// never inherited locked). Each child is waited for with a timeout, so a deadlock fails.
// The child's convolution runs once first: a fork while another thread is still inside the
// library's first call may inherit a function-local static's initialization half done (the C++
// runtime's guard, not the cache's lock), and that child would wait on it forever.
TEST_F(PlanCache, ForkWhileOtherThreadsUseIt) {
  const auto child_convolution = [] {
    std::vector<float> src(4 * 64, 1.0f), weight(6 * 4 * 9, 1.0f), dst(6 * 64);
    fc::conv_forward(fc::make_view(src.data(), {1, 4, 8, 8}), fc::make_view(weight.data(), {6, 4, 3, 3}), nullptr,
                     fc::make_view(dst.data(), {1, 6, 8, 8}), kSame);
    return dst[9];  // an interior position: 4 channels x 9 taps
  };
  ASSERT_EQ(child_convolution(), 36.0f);
  fc::set_plan_cache_capacity(1);  // every call of the busy threads takes the lock for an insert
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int t = 0; t < 2; ++t) {
    busy.emplace_back([&, t] {
      std::int64_t width = 5 + t;
      while (!stop.load()) {
        fc::cached_plan(fc::ConvKind::forward, forward_shapes({1, 2, 5, width}, {2, 2, 3, 3}, {1, 2, 3, width - 2}),
                        fc::ConvParams(2));
        width = width == 12 ? 5 + t : width + 1;
      }
    });
  }
  int failures = 0;
  for (int child = 0; child < 20; ++child) {
    const pid_t pid = fork();
    if (pid == 0) {
      alarm(60);
      int status = 0;
      try {
        status = child_convolution() == 36.0f ? 0 : 3;
        (void)fc::plan_cache_stats();
      } catch (...) {
        status = 2;
      }
      _exit(status);
    }
    ASSERT_GT(pid, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        status = 124 << 8;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
  }
  stop.store(true);
  for (std::thread& thread : busy) thread.join();
  EXPECT_EQ(failures, 0);
}

}  // namespace
