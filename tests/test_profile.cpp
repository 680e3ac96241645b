// fastconv::profile: with profiling on, a run records microkernel time, every thread's phases add
// up to no more than the runs' wall time, and the run totals count the runs; with it off (the
// default) nothing is recorded. Checked on every engine that takes the problem, every direction.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "fastconv/fastconv.hpp"

namespace {

namespace fc = fastconv;
namespace profile = fastconv::profile;
using Shape = std::vector<std::int64_t>;

// Operand buffers of one forward layer: (2, 16, 20, 20) * (32, 16, 3, 3), padding 1.
struct Layer {
  fc::ConvParams params = fc::ConvParams(2).padding({1, 1}, {1, 1});
  std::vector<float> src = std::vector<float>(2 * 16 * 20 * 20, 0.5f);
  std::vector<float> weight = std::vector<float>(32 * 16 * 3 * 3, 0.25f);
  std::vector<float> dst = std::vector<float>(2 * 32 * 20 * 20, 0.0f);
  fc::TensorView view(std::vector<float>& data, Shape shape) {
    return fc::TensorView::contiguous(data.data(), fc::DType::float32, shape);
  }
  fc::ConvArgs args(fc::ConvKind kind) {
    const fc::TensorView s = view(src, {2, 16, 20, 20}), w = view(weight, {32, 16, 3, 3}),
                         d = view(dst, {2, 32, 20, 20});
    switch (kind) {
      case fc::ConvKind::forward: return {.src = s, .weight = w, .dst = d};
      case fc::ConvKind::backward_data: return {.weight = w, .diff_dst = d, .diff_src = s};
      case fc::ConvKind::backward_weights: return {.src = s, .diff_dst = d, .diff_weight = w};
      case fc::ConvKind::transposed:  // (2, 32, 20, 20) -> (2, 16, 20, 20), weight (32, 16, 3, 3)
        return {.src = d, .weight = w, .dst = s};
    }
    return {};
  }
};

double phase_seconds(const profile::Report& report, profile::Phase phase) {
  double seconds = 0.0;
  for (const profile::ThreadPhases& thread : report.threads) seconds += thread.seconds[int(phase)];
  return seconds;
}

TEST(Profile, OffRecordsNothing) {
  Layer layer;
  ASSERT_FALSE(profile::enabled());  // the default
  profile::reset();
  const fc::ConvArgs args = layer.args(fc::ConvKind::forward);
  fc::ConvPlan(fc::ConvKind::forward, args, layer.params, fc::Engine::im2col).run(args);
  const profile::Report report = profile::snapshot();
  EXPECT_EQ(report.runs, 0u);
  EXPECT_EQ(report.run_seconds, 0.0);
  EXPECT_TRUE(report.threads.empty());
}

TEST(Profile, OnRecordsMicrokernelTimeWithinTheWallTime) {
  Layer layer;
  for (fc::ConvKind kind : {fc::ConvKind::forward, fc::ConvKind::backward_data,
                            fc::ConvKind::backward_weights, fc::ConvKind::transposed}) {
    for (fc::Engine engine : fc::kAllEngines) {
      const fc::ConvArgs args = layer.args(kind);
      std::unique_ptr<fc::ConvPlan> plan;
      try {
        plan = std::make_unique<fc::ConvPlan>(kind, args, layer.params, engine);
      } catch (const fc::Error& error) {
        ASSERT_EQ(error.kind(), fc::ErrorKind::engine_declined) << error.what();
        continue;
      }
      SCOPED_TRACE(std::string(fc::conv_kind_name(kind)) + " " + fc::engine_name(plan->engine()));
      profile::reset();
      profile::set_enabled(true);
      for (int run = 0; run < 3; ++run) plan->run(args);
      profile::set_enabled(false);
      const profile::Report report = profile::snapshot();

      EXPECT_EQ(report.runs, 3u);
      EXPECT_GT(report.run_seconds, 0.0);
      ASSERT_FALSE(report.threads.empty());
      EXPECT_GT(phase_seconds(report, profile::Phase::microkernel), 0.0);
      EXPECT_GT(phase_seconds(report, profile::Phase::other), 0.0);  // argument checks
      std::uint64_t microkernel_calls = 0;
      for (const profile::ThreadPhases& thread : report.threads) {
        EXPECT_LE(thread.total_seconds(), report.run_seconds);
        microkernel_calls += thread.calls[int(profile::Phase::microkernel)];
      }
      EXPECT_GT(microkernel_calls, 0u);
    }
  }
  // Recording stopped with set_enabled(false).
  profile::reset();
  const fc::ConvArgs args = layer.args(fc::ConvKind::forward);
  fc::ConvPlan(fc::ConvKind::forward, args, layer.params).run(args);
  EXPECT_EQ(profile::snapshot().runs, 0u);
}

TEST(Profile, PhaseNames) {
  EXPECT_STREQ(profile::phase_name(profile::Phase::packing), "packing");
  EXPECT_STREQ(profile::phase_name(profile::Phase::transforms), "transforms");
  EXPECT_STREQ(profile::phase_name(profile::Phase::microkernel), "microkernel");
  EXPECT_STREQ(profile::phase_name(profile::Phase::epilogue), "epilogue");
  EXPECT_STREQ(profile::phase_name(profile::Phase::other), "other");
}

}  // namespace
