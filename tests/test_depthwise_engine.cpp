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

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/check.hpp"
#include "support/problem.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fctest::Layout;
using fctest::Op;
using fctest::Problem;
using fctest::ValueMode;

constexpr int kProblemsPerTest = 200;
constexpr int kMaxReportedFailures = 5;
constexpr Op kConvOps[] = {Op::forward, Op::transposed, Op::backward_data, Op::backward_weights};

Layout pick_layout(fctest::Rng& rng, bool is_output, std::size_t rank) {
  const double r = rng.uniform_real(0.0, 1.0);
  if (rank == 1) return r < 0.5 ? Layout::contiguous : (r < 0.8 || is_output ? Layout::gapped : Layout::reversed);
  if (is_output) {
    if (r < 0.3) return Layout::contiguous;
    if (r < 0.6) return Layout::channels_last;
    return r < 0.8 ? Layout::gapped : Layout::permuted;
  }
  if (r < 0.3) return Layout::contiguous;
  if (r < 0.55) return Layout::channels_last;
  if (r < 0.7) return Layout::gapped;
  if (r < 0.82) return Layout::permuted;
  return r < 0.94 ? Layout::reversed : Layout::broadcast;
}

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
    std::vector<std::int64_t> in(static_cast<std::size_t>(d)), kernel(static_cast<std::size_t>(d));
    bool fits = true;
    for (int i = 0; i < d; ++i) {
      const bool last = i == d - 1;
      kernel[std::size_t(i)] = rng.uniform_int(1, d == 3 ? 3 : 5);
      params.strides[i] = rng.chance(0.4) ? 1 : rng.uniform_int(2, 4);
      params.dilations[i] = rng.chance(0.6) ? 1 : rng.uniform_int(2, 3);
      params.pad_begin[i] = rng.chance(0.35) ? 0 : rng.uniform_int(0, 3);
      params.pad_end[i] = rng.chance(0.35) ? params.pad_begin[i] : rng.uniform_int(0, 3);
      in[std::size_t(i)] = wide && last ? rng.uniform_int(250, 700)
                                        : rng.uniform_int(1, d == 3 ? 6 : (d == 2 ? 12 : 16));
      const std::int64_t extent = params.dilations[i] * (kernel[std::size_t(i)] - 1) + 1;
      if (op == Op::transposed) {
        if (rng.chance(0.5))
          params.output_paddings[i] =
              rng.uniform_int(0, std::max(params.strides[i], params.dilations[i]) - 1);
        const std::int64_t out = (in[std::size_t(i)] - 1) * params.strides[i] - params.pad_begin[i] -
                                 params.pad_end[i] + extent + params.output_paddings[i];
        fits = fits && out >= 1;
      } else {
        fits = fits && in[std::size_t(i)] + params.pad_begin[i] + params.pad_end[i] >= extent;
      }
    }
    if (!fits && attempt < 10000) continue;
    Problem p = fctest::make_problem(op, batch, in_channels, out_channels, in, kernel, params, has_bias);
    p.seed = seed;
    if (p.mac_count() > (wide ? 60000 : 15000) && attempt < 10000) continue;
    p.api = static_cast<fctest::ApiPath>(seed % 3);
    for (auto& operand : p.operands)
      operand.layout = pick_layout(rng, operand.is_output, operand.shape.size());
    return p;
  }
}

template <typename Check>
void run_seeds(Op op, Check&& check) {
  int failures = 0;
  const auto seeds = fctest::test_seeds(kProblemsPerTest);
  for (const auto seed : seeds) {
    const std::string report = check(depthwise_problem(op, seed));
    if (report.empty()) continue;
    if (++failures <= kMaxReportedFailures) ADD_FAILURE() << report;
  }
  EXPECT_EQ(failures, 0) << failures << " of " << seeds.size() << " problems failed";
}

using Case = std::tuple<Op, fc::Engine, ValueMode>;
class DepthwiseVsReference : public ::testing::TestWithParam<Case> {};

TEST_P(DepthwiseVsReference, SeededRandomProblems) {
  const auto [op, engine, mode] = GetParam();
  run_seeds(op, [&](const Problem& problem) {
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

// One NaN or Inf in a random input element (weights included, so padded taps meet it): the
// engine's outputs are NaN exactly where the reference's are, and equal elsewhere (integer-valued
// inputs, so finite sums are exact and infinite ones agree in sign).
std::string non_finite_report(const Problem& p) {
  fctest::Rng rng(fctest::mix_seed(p.seed, 0x1AF));
  auto tensors = fctest::allocate(p, fc::DType::float32, true);
  fctest::fill_int_inputs(p, tensors, rng, -3, 3);
  std::vector<std::size_t> inputs;
  for (std::size_t i = 0; i < p.operands.size(); ++i)
    if (!p.operands[i].is_output) inputs.push_back(i);
  const auto target = inputs[std::size_t(rng.uniform_int(0, std::int64_t(inputs.size()) - 1))];
  const std::int64_t element = rng.uniform_int(0, tensors[target].numel() - 1);
  const double bad = rng.chance(0.5) ? std::numeric_limits<double>::quiet_NaN()
                                     : -std::numeric_limits<double>::infinity();
  tensors[target].set_linear(element, bad);
  auto reference = fctest::allocate(p, fc::DType::float32, false);
  fctest::copy_inputs(p, tensors, reference, false);
  fctest::fill_outputs_with_sentinel(p, tensors);
  fctest::fill_outputs_with_sentinel(p, reference);
  fctest::run(p, tensors, fc::Engine::depthwise, p.api);
  fctest::run(p, reference, fc::Engine::reference);
  std::string report;
  for (std::size_t i = 0; i < p.operands.size(); ++i) {
    if (!p.operands[i].is_output) continue;
    const auto got = tensors[i].to_dense(), expected = reference[i].to_dense();
    std::int64_t differ = 0;
    for (std::size_t e = 0; e < got.size(); ++e)
      differ += (std::isnan(got[e]) != std::isnan(expected[e]) ||
                 (!std::isnan(got[e]) && got[e] != expected[e]))
                    ? 1
                    : 0;
    if (differ)
      report += "  " + p.operands[i].name + ": " + std::to_string(differ) +
                " elements differ from the reference (" + p.operands[target].name +
                " element " + std::to_string(element) + " = " + std::to_string(bad) + ")\n";
  }
  return report.empty() ? "" : p.describe() + "\n" + report + fctest::reproduce_hint(p.seed);
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
      seen["dims=" + std::to_string(p.spatial_dims)]++;
      seen["multiplier=" + std::to_string(multiplier)]++;
      seen[p.batch == 1 ? "batch=1" : "batch>1"]++;
      if (p.has_bias) seen["bias"]++;
      for (int i = 0; i < p.spatial_dims; ++i) {
        if (p.params.strides[i] > p.kernel[std::size_t(i)]) seen["stride>kernel"]++;
        if (p.params.dilations[i] > 1) seen["dilation"]++;
        if (p.params.pad_begin[i] != p.params.pad_end[i]) seen["asymmetric padding"]++;
        if (p.input_spatial[std::size_t(i)] > 256) seen["wide row"]++;
      }
      for (const auto& operand : p.operands)
        if (operand.shape.size() > 1) seen[std::string("layout=") + fctest::layout_name(operand.layout)]++;
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

fc::ConvArgs shape_args(const Problem& p) {
  std::vector<fctest::Tensor> tensors;
  for (const auto& operand : p.operands) tensors.emplace_back(fc::DType::float32, operand.shape);
  fc::ConvArgs args = fctest::conv_args(p, tensors);
  for (fc::TensorView* view : {&args.src, &args.weight, &args.bias, &args.dst, &args.diff_dst,
                               &args.diff_src, &args.diff_weight, &args.diff_bias})
    view->data = nullptr;  // a plan is created from shapes only
  return args;
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
      try {
        fc::ConvPlan plan(fctest::conv_kind(op), shape_args(p), p.params, fc::Engine::depthwise);
        ADD_FAILURE() << "accepted " << p.describe();
      } catch (const fc::Error& e) {
        EXPECT_EQ(e.kind(), fc::ErrorKind::engine_declined) << e.what();
        EXPECT_NE(std::string(e.what()).find(expected), std::string::npos)
            << e.what() << " (expected '" << expected << "')";
      }
      const fc::ConvPlan automatic(fctest::conv_kind(op), shape_args(p), p.params);
      EXPECT_NE(automatic.engine(), fc::Engine::depthwise) << p.describe();
    }
}

TEST(DepthwiseEngine, AutoPicksItForDepthwiseProblems) {
  for (const Op op : kConvOps)
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
      const Problem p = depthwise_problem(op, seed);
      const fc::ConvPlan plan(fctest::conv_kind(op), shape_args(p), p.params);
      EXPECT_EQ(plan.engine(), fc::Engine::depthwise) << p.describe();
      EXPECT_EQ(plan.workspace_bytes(), 0u) << p.describe();
    }
  // MobileNetV2's depthwise 3x3 layer, and a single-channel image with 8 filters.
  for (const auto& [channels, groups, filters] :
       {std::tuple<std::int64_t, std::int64_t, std::int64_t>{144, 144, 144}, {1, 1, 8}}) {
    auto params = fc::ConvParams(2).padding({1});
    params.group_count = groups;
    const Problem p = fctest::make_problem(Op::forward, 1, channels, filters, {56, 56}, {3, 3}, params, true);
    EXPECT_EQ(fc::ConvPlan(fc::ConvKind::forward, shape_args(p), p.params).engine(),
              fc::Engine::depthwise);
  }
}

// Integer-valued results are identical with 1 and 2 threads (a fixed summation order).
TEST(DepthwiseEngine, OneAndTwoThreadsAgree) {
  const int before = fc::get_num_threads();
  auto params = fc::ConvParams(2).stride({2, 1}).padding({1, 2}, {0, 1}).dilation({1, 2});
  params.group_count = 48;
  for (const Op op : kConvOps) {
    const Problem p = op == Op::transposed
                          ? fctest::make_problem(op, 2, 96, 48, {40, 300}, {3, 3}, params, true)
                          : fctest::make_problem(op, 2, 48, 96, {40, 300}, {3, 3}, params,
                                                 op != Op::backward_data);
    std::vector<double> outputs[2];
    for (int threads = 1; threads <= 2; ++threads) {
      fc::set_num_threads(threads);
      fctest::Rng rng(7);
      auto tensors = fctest::allocate(p, fc::DType::float32, false);
      fctest::fill_int_inputs(p, tensors, rng, -3, 3);
      fctest::run(p, tensors, fc::Engine::depthwise);
      for (std::size_t i = 0; i < p.operands.size(); ++i)
        if (p.operands[i].is_output) {
          const auto values = tensors[i].to_dense();
          outputs[threads - 1].insert(outputs[threads - 1].end(), values.begin(), values.end());
        }
    }
    EXPECT_EQ(outputs[0], outputs[1]) << p.describe();
    EXPECT_EQ(fctest::check_engine_against_reference(p, fc::Engine::depthwise, ValueMode::int_f32), "");
  }
  fc::set_num_threads(before);
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
