// The depthwise engine against Engine::reference on seeded random DEPTHWISE problems (the
// generic generator mostly makes problems this engine declines): every convolution operation,
// 1-D/2-D/3-D, channel multipliers 1..3, stride > kernel, dilation, asymmetric padding,
// output_padding, batch 1 and > 1, bias on and off, random operand layouts (channels-last,
// gapped, permuted, reversed, broadcast) and rows wider than the engine's row chunk; in the
// three value modes of support/check.hpp (integer-valued float32 exact, real float32/float64
// within tolerance). Also: NaN/Inf patterns equal the reference's, non-depthwise problems are
// declined with a reason, and `auto` picks the engine for depthwise problems.
//
// Reproduce one failing problem with the line the failure prints, e.g.
//   FASTCONV_TEST_SEED=17 ./test_depthwise_engine --gtest_filter='...'
#include <gtest/gtest.h>
#include <omp.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/check.hpp"
#include "support/engine_checks.hpp"
#include "support/problem.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fctest::Op;
using fctest::Problem;
using fctest::ValueMode;

constexpr int kProblemsPerTest = 200;
constexpr Op kConvOps[] = {Op::forward, Op::transposed, Op::backward_data, Op::backward_weights};

// A reproducible random problem with one input channel per group (of the forward convolution
// the operation belongs to: for `transposed`, the weight is (C, 1, k...) with C = groups).
// A quarter of the problems have a wide last axis (up to 700) to cross the engine's row chunks.
Problem depthwise_problem(Op op, std::uint64_t seed) {
  fctest::Rng rng(fctest::mix_seed(seed, 0xD3E9 + std::uint64_t(op)));
  for (int attempt = 0;; ++attempt) {
    const int d = int(rng.uniform_int(1, 3));
    const bool wide = d < 3 && rng.chance(0.25);
    const std::int64_t groups = rng.uniform_int(1, wide ? 3 : 5);
    const std::int64_t multiplier = rng.uniform_int(1, 3);
    const std::int64_t batch = rng.chance(0.45) ? 1 : rng.uniform_int(2, 3);
    // C and K of the operation's own src / dst.
    const std::int64_t in_channels = op == Op::transposed ? groups * multiplier : groups;
    const std::int64_t out_channels = op == Op::transposed ? groups : groups * multiplier;
    const bool has_bias = op != Op::backward_data && rng.chance(0.5);
    fc::ConvParams params(d);
    params.group_count = groups;
    std::vector<std::int64_t> in, kernel;
    const bool fits = fctest::draw_axes(
        rng, op, {.stride_one = 0.4, .dilation_one = 0.6, .pad_end_same = 0.35},
        [&](bool last) {
          return wide && last ? rng.uniform_int(250, 700)
                              : rng.uniform_int(1, d == 3 ? 6 : (d == 2 ? 12 : 16));
        },
        params, in, kernel);
    if (!fits && attempt < 10000) continue;
    Problem p = fctest::make_problem(op, batch, in_channels, out_channels, in, kernel, params, has_bias);
    if (p.mac_count() > (wide ? 60000 : 15000) && attempt < 10000) continue;
    fctest::finish_random_problem(
        p, seed, rng, {.output = {0.3, 0.6, 0.8}, .input = {0.3, 0.55, 0.7, 0.82, 0.94}});
    return p;
  }
}

void run_seeds(Op op, const std::function<std::string(const Problem&)>& check) {
  fctest::expect_no_failed_problems(
      kProblemsPerTest, [op](std::uint64_t seed) { return depthwise_problem(op, seed); }, check);
}

using Case = std::tuple<Op, fc::Engine, ValueMode>;
class DepthwiseVsReference : public ::testing::TestWithParam<Case> {};

TEST_P(DepthwiseVsReference, SeededRandomProblems) {
  const auto [op, engine, mode] = GetParam();
  // (Explicit captures: clang 14 cannot capture structured bindings.)
  run_seeds(op, [&, engine = engine, mode = mode](const Problem& problem) {
    return fctest::check_engine_against_reference(problem, engine, mode);
  });
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const auto [op, engine, mode] = info.param;
  return std::string(fctest::op_name(op)) + "_" +
         (engine == fc::Engine::automatic ? "auto" : fc::engine_name(engine)) + "_" +
         fctest::mode_name(mode);
}

INSTANTIATE_TEST_SUITE_P(
    ConvOps, DepthwiseVsReference,
    ::testing::Combine(::testing::ValuesIn(kConvOps),
                       ::testing::Values(fc::Engine::depthwise, fc::Engine::automatic),
                       ::testing::ValuesIn(fctest::kAllValueModes)),
    case_name);

// One NaN or Inf in a random input element (fctest::non_finite_report): the engine's outputs
// are NaN exactly where the reference's are, and equal elsewhere.
std::string non_finite_report(const Problem& p) {
  return fctest::non_finite_report(p, fc::Engine::depthwise);
}

class DepthwiseNonFinite : public ::testing::TestWithParam<Op> {};

TEST_P(DepthwiseNonFinite, SamePatternAsReference) {
  run_seeds(GetParam(), non_finite_report);
}

INSTANTIATE_TEST_SUITE_P(ConvOps, DepthwiseNonFinite, ::testing::ValuesIn(kConvOps),
                         [](const ::testing::TestParamInfo<Op>& info) {
                           return std::string(fctest::op_name(info.param));
                         });

// The generator must produce every feature the engine is tested on.
TEST(DepthwiseProblemGenerator, CoversEveryFeature) {
  for (const Op op : kConvOps) {
    std::map<std::string, int> seen;
    for (std::uint64_t seed = 1; seed <= kProblemsPerTest; ++seed) {
      const Problem p = depthwise_problem(op, seed);
      const std::int64_t per_group = (op == Op::transposed ? p.out_channels : p.in_channels) / p.groups;
      EXPECT_EQ(per_group, 1) << p.describe();
      const std::int64_t multiplier =
          (op == Op::transposed ? p.in_channels : p.out_channels) / p.groups;
      seen["multiplier=" + std::to_string(multiplier)]++;
      fctest::count_problem_features(p, seen);
    }
    std::set<std::string> wanted = {"dims=1",  "dims=2",  "dims=3",        "multiplier=1",
                                    "multiplier=2", "multiplier=3", "batch=1", "batch>1",
                                    "stride>kernel", "dilation", "asymmetric padding", "wide row",
                                    "layout=contiguous", "layout=channels_last", "layout=gapped",
                                    "layout=permuted", "layout=reversed"};
    if (op != Op::backward_data) wanted.insert("bias");
    for (const auto& feature : wanted)
      EXPECT_GT(seen[feature], 0) << fctest::op_name(op) << ": no problem has " << feature;
  }
}

TEST(DepthwiseEngine, DeclinesProblemsWithSeveralChannelsPerGroup) {
  struct Case {
    std::int64_t channels, groups, per_group;
  };
  for (const Case c : {Case{4, 1, 4}, Case{8, 2, 4}, Case{6, 3, 2}})
    for (const Op op : kConvOps) {
      auto params = fc::ConvParams(2).padding({1});
      params.group_count = c.groups;
      // For `transposed` the forward convolution's input channels are the operation's output.
      const Problem p = op == Op::transposed
                            ? fctest::make_problem(op, 1, c.groups, c.channels, {5, 5}, {3, 3}, params, false)
                            : fctest::make_problem(op, 1, c.channels, c.groups, {5, 5}, {3, 3}, params, false);
      const std::string expected = "not depthwise: C/groups = " + std::to_string(c.per_group);
      const std::string message = fctest::decline_message(p, fc::Engine::depthwise);
      EXPECT_NE(message.find(expected), std::string::npos)
          << message << " (expected '" << expected << "') " << p.describe();
      const fc::ConvPlan automatic(fctest::conv_kind(op), fctest::shape_args(p), p.params);
      EXPECT_NE(automatic.engine(), fc::Engine::depthwise) << p.describe();
    }
}

TEST(DepthwiseEngine, AutoPicksItForDepthwiseProblems) {
  for (const Op op : kConvOps)
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
      const Problem p = depthwise_problem(op, seed);
      const fc::ConvPlan plan(fctest::conv_kind(op), fctest::shape_args(p), p.params);
      EXPECT_EQ(plan.engine(), fc::Engine::depthwise) << p.describe();
      // Only the forward plane kernels have scratch: under 64 KiB per thread.
      if (op == Op::forward) {
        EXPECT_LE(plan.workspace_bytes(), std::size_t(std::max(fc::get_num_threads(), omp_get_num_procs())) << 16)
            << p.describe();
      } else {
        EXPECT_EQ(plan.workspace_bytes(), 0u) << p.describe();
      }
    }
  // MobileNetV2's depthwise 3x3 layer, and a single-channel image with 8 filters.
  for (const auto& [channels, groups, filters] :
       {std::tuple<std::int64_t, std::int64_t, std::int64_t>{144, 144, 144}, {1, 1, 8}}) {
    auto params = fc::ConvParams(2).padding({1});
    params.group_count = groups;
    const Problem p = fctest::make_problem(Op::forward, 1, channels, filters, {56, 56}, {3, 3}, params, true);
    EXPECT_EQ(fc::ConvPlan(fc::ConvKind::forward, fctest::shape_args(p), p.params).engine(),
              fc::Engine::depthwise);
  }
}

// Integer-valued results are identical with 1 and 2 threads (a fixed summation order).
TEST(DepthwiseEngine, OneAndTwoThreadsAgree) {
  auto params = fc::ConvParams(2).stride({2, 1}).padding({1, 2}, {0, 1}).dilation({1, 2});
  params.group_count = 48;
  for (const Op op : kConvOps) {
    const Problem p = op == Op::transposed
                          ? fctest::make_problem(op, 2, 96, 48, {40, 300}, {3, 3}, params, true)
                          : fctest::make_problem(op, 2, 48, 96, {40, 300}, {3, 3}, params,
                                                 op != Op::backward_data);
    EXPECT_EQ(fctest::outputs_with_threads(p, fc::Engine::depthwise, 1, 7),
              fctest::outputs_with_threads(p, fc::Engine::depthwise, 2, 7))
        << p.describe();
    EXPECT_EQ(fctest::check_engine_against_reference(p, fc::Engine::depthwise, ValueMode::int_f32), "");
  }
}

// Forward planes of the copy-free kernel (AVX-512: stride 1, output rows as wide as the input
// rows, contiguous planes, no depth padding) and shapes next to its limits, against the
// reference, including NaN/Inf patterns. At other ISA levels they run the plane kernels.
TEST(DepthwiseEngine, SameWidthStrideOnePlanes) {
  struct Shape {
    std::vector<std::int64_t> in, kernel, pad_begin, pad_end, dilation;
    std::int64_t channels, multiplier;
  };
  const Shape shapes[] = {
      {{7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 8, 1},
      {{14, 14}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 5, 2},
      {{56, 56}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 3, 1},
      {{64, 64}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 2, 1},  // 4096 outputs: the size limit
      {{65, 64}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 2, 1},  // just past it
      {{9, 33}, {5, 5}, {2, 0}, {2, 4}, {1, 1}, 3, 1},   // asymmetric, wider than a vector
      {{11, 10}, {3, 3}, {0, 2}, {3, 2}, {2, 2}, 2, 1},  // dilated
      {{5, 1}, {3, 1}, {1, 0}, {1, 0}, {1, 1}, 2, 1},    // one column
      {{3, 6, 9}, {2, 3, 3}, {0, 1, 1}, {0, 1, 1}, {1, 1, 1}, 2, 2},  // 3-D, depth unpadded
      {{50}, {7}, {3}, {3}, {1}, 4, 1},                 // 1-D
  };
  for (const Shape& shape : shapes) {
    fc::ConvParams params(int(shape.in.size()));
    params.group_count = shape.channels;
    for (std::size_t i = 0; i < shape.in.size(); ++i) {
      params.pad_begin[int(i)] = shape.pad_begin[i];
      params.pad_end[int(i)] = shape.pad_end[i];
      params.dilations[int(i)] = shape.dilation[i];
    }
    for (const bool bias : {false, true}) {
      Problem p = fctest::make_problem(Op::forward, 2, shape.channels, shape.channels * shape.multiplier,
                                       shape.in, shape.kernel, params, bias);
      for (const ValueMode mode : {ValueMode::int_f32, ValueMode::real_f64})
        EXPECT_EQ(fctest::check_engine_against_reference(p, fc::Engine::depthwise, mode), "");
      for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        p.seed = seed;
        EXPECT_EQ(non_finite_report(p), "");
      }
    }
  }
}

// Rows too wide for the plane kernels' bounded buffer fall back to the row loops; a tall image
// is split into many bands.
TEST(DepthwiseEngine, VeryWideRowsAndTallImages) {
  struct Shape {
    std::vector<std::int64_t> in, kernel;
    std::int64_t stride, dilation, pad;
  };
  const Shape shapes[] = {
      {{20000}, {3}, 1, 1, 1}, {{20000}, {5}, 2, 1, 2}, {{3, 9000}, {3, 3}, 1, 2, 1},
      {{3, 17000}, {3, 1}, 2, 1, 0}, {{700, 5}, {3, 3}, 1, 1, 1}, {{900, 3}, {5, 3}, 2, 3, 2},
  };
  for (const Shape& shape : shapes) {
    const int rank = int(shape.in.size());
    fc::ConvParams params(rank);
    params.group_count = 2;
    for (int i = 0; i < rank; ++i) {
      params.strides[i] = shape.stride;
      params.dilations[i] = shape.dilation;
      params.pad_begin[i] = params.pad_end[i] = shape.pad;
    }
    const Problem p = fctest::make_problem(Op::forward, 1, 2, 4, shape.in, shape.kernel, params, true);
    EXPECT_EQ(fctest::check_engine_against_reference(p, fc::Engine::depthwise, ValueMode::int_f32), "");
  }
}

}  // namespace
