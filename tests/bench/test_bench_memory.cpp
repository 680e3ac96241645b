// test_bench_memory.cpp — the peak-RSS probe sees a large allocation that was touched and freed
// inside it, and not one made before it; interleaved timing calls every contestant in turn.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "memory.hpp"
#include "timing.hpp"

namespace fastconv_bench {
namespace {

constexpr std::size_t kMiB = std::size_t(1) << 20;

void touch_and_free(std::size_t bytes) {
  std::unique_ptr<char[]> block(new char[bytes]);
  std::memset(block.get(), 1, bytes);
  volatile char sink = block[bytes / 2];
  (void)sink;
}

TEST(BenchMemory, PeakProbeSeesALargeAllocation) {
  return_large_allocations_to_os();
  ASSERT_GT(current_rss_bytes(), 0u);
  const PeakMemoryProbe probe;
  touch_and_free(64 * kMiB);
  const MemoryUse use = probe.finish();
  EXPECT_GE(use.increase_bytes, 60 * kMiB);
  EXPECT_GE(use.peak_bytes, use.increase_bytes);
}

TEST(BenchMemory, ResetProbeDoesNotSeeAnEarlierAllocation) {
  return_large_allocations_to_os();
  touch_and_free(96 * kMiB);
  const PeakMemoryProbe probe;
  touch_and_free(8 * kMiB);
  const MemoryUse use = probe.finish();
  if (!use.exact) GTEST_SKIP() << "/proc/self/clear_refs is not available here";
  EXPECT_LT(use.increase_bytes, 40 * kMiB);
  EXPECT_GE(use.increase_bytes, 6 * kMiB);
}

TEST(BenchTiming, InterleavedRoundsCallEveryContestantInTurn) {
  std::string order;
  const std::vector<std::function<void()>> runs = {[&] { order += 'a'; }, [&] { order += 'b'; }};
  const std::vector<Timing> timings =
      time_interleaved(runs, {.min_seconds = 0.0, .min_runs = 4, .max_runs = 10});
  EXPECT_EQ(order, "ab" "abababab");  // warm-up, then 4 rounds
  ASSERT_EQ(timings.size(), 2u);
  EXPECT_EQ(timings[0].runs, 4);
  EXPECT_EQ(timings[1].runs, 4);
  EXPECT_LE(timings[0].min_ms, timings[0].median_ms);
  EXPECT_LE(timings[0].median_ms, timings[0].max_ms);
}

}  // namespace
}  // namespace fastconv_bench
