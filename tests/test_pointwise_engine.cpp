// The pointwise engine (1x1 kernels, no padding: a GEMM straight on the operands) against
// Engine::reference, on its own seeded random problems, since the generic generator rarely
// draws a 1x1 kernel without padding: every convolution operation, 1-D / 2-D / 3-D, groups and
// depthwise, batch 1 and > 1, bias or not, odd channel counts, dilation and output_padding
// (strides 1-3 forward; the backward directions decline strides), and every operand layout (contiguous, channels-last,
// cropped channel / pixel views, permuted, reversed, broadcast inputs), in the three value
// modes (integer-valued float32: exact; real float32 / float64: tolerance from the reduction
// length). Also: what the engine declines and why, `auto` choosing it, empty batches, and a
// workspace independent of the image size.
//
// Reproduce one failing problem with the line the failure prints, e.g.
//   FASTCONV_TEST_SEED=17 ./test_pointwise_engine --gtest_filter='...'
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/check.hpp"
#include "support/engine_checks.hpp"
#include "support/expect_error.hpp"
#include "support/problem.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fctest::Layout;
using fctest::Op;
using fctest::ValueMode;
using Shape = std::vector<std::int64_t>;

constexpr Op kConvOps[] = {Op::forward, Op::transposed, Op::backward_data, Op::backward_weights};
constexpr int kProblemsPerTest = 200;
constexpr int kLargeProblemsPerTest = 40;

// A reproducible random 1x1 problem without padding. `large` ones have up to 96 channels per
// group and a few thousand pixels, to reach the GEMM's blocking and tile remainders.
fctest::Problem random_pointwise_problem(Op op, std::uint64_t seed, bool large) {
  fctest::Rng rng(fctest::mix_seed(seed, std::uint64_t(op) + (large ? 0x91A : 0x910)));
  const std::int64_t max_channels = large ? 96 : 9;
  const std::int64_t max_per_group = large ? 24 : 4;
  const std::int64_t budget = large ? 1500000 : 40000;
  for (int attempt = 0;; ++attempt) {
    const double rd = rng.uniform_real(0.0, 1.0);
    const int d = rd < 0.3 ? 1 : (rd < 0.7 ? 2 : 3);
    const std::int64_t batch = rng.chance(0.45) ? 1 : rng.uniform_int(2, large ? 3 : 4);
    std::int64_t groups = 1, in_channels = 1, out_channels = 1;
    const double rg = rng.uniform_real(0.0, 1.0);
    if (rg < 0.5) {
      in_channels = rng.uniform_int(1, max_channels);
      out_channels = rng.uniform_int(1, max_channels);
    } else if (rg < 0.65) {  // depthwise, channel multiplier 1..3
      groups = in_channels = rng.uniform_int(1, max_per_group);
      out_channels = in_channels * rng.uniform_int(1, 3);
    } else {
      groups = rng.uniform_int(2, 4);
      in_channels = groups * rng.uniform_int(1, max_per_group);
      out_channels = groups * rng.uniform_int(1, max_per_group);
    }
    const bool has_bias = op != Op::backward_data && rng.chance(0.5);
    auto params = fc::ConvParams(d).groups(groups);
    const std::int64_t max_size[3] = {large ? 3000 : 17, large ? 60 : 9, large ? 16 : 5};
    Shape input(static_cast<std::size_t>(d), 0), kernel(static_cast<std::size_t>(d), 1);
    for (std::size_t i = 0; i < std::size_t(d); ++i) {
      input[i] = rng.uniform_int(1, max_size[d - 1]);
      params.dilations[i] = rng.chance(0.6) ? 1 : rng.uniform_int(2, 3);
      // Forward strides: the input's pixels walk in two levels (row by row).
      if (op == Op::forward && rng.chance(0.4)) params.strides[i] = rng.uniform_int(2, 3);
      const std::int64_t room = params.dilations[i] - 1;  // output_padding < dilation
      if (op == Op::transposed && room > 0 && rng.chance(0.4))
        params.output_paddings[i] = rng.uniform_int(0, room);
    }
    auto p = fctest::make_problem(op, batch, in_channels, out_channels, input, kernel, params,
                                  has_bias);
    if (p.mac_count() > budget && attempt < 10000) continue;
    p.large = large;
    fctest::finish_random_problem(
        p, seed, rng, {.output = {0.35, 0.7, 0.9}, .input = {0.3, 0.6, 0.75, 0.85, 0.95}});
    return p;
  }
}

void run_seeds(Op op, bool large, const std::function<std::string(const fctest::Problem&)>& check) {
  fctest::expect_no_failed_problems(
      large ? kLargeProblemsPerTest : kProblemsPerTest,
      [op, large](std::uint64_t seed) { return random_pointwise_problem(op, seed, large); }, check);
}

using Case = std::tuple<Op, ValueMode>;

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(fctest::op_name(std::get<0>(info.param))) + "_" +
         fctest::mode_name(std::get<1>(info.param));
}

class PointwiseVsReference : public ::testing::TestWithParam<Case> {};

TEST_P(PointwiseVsReference, SeededRandomProblems) {
  const auto [op, mode] = GetParam();
  // (Explicit capture: clang 14 cannot capture structured bindings.)
  run_seeds(op, false, [&, mode = mode](const fctest::Problem& problem) {
    return fctest::check_engine_against_reference(problem, fc::Engine::pointwise, mode);
  });
}

TEST_P(PointwiseVsReference, LargeSeededRandomProblems) {
  const auto [op, mode] = GetParam();
  run_seeds(op, true, [&, mode = mode](const fctest::Problem& problem) {
    return fctest::check_engine_against_reference(problem, fc::Engine::pointwise, mode);
  });
}

INSTANTIATE_TEST_SUITE_P(AllOps, PointwiseVsReference,
                         ::testing::Combine(::testing::ValuesIn(kConvOps),
                                            ::testing::ValuesIn(fctest::kAllValueModes)),
                         case_name);

// Shapes that cross the GEMM's cache blocks (rows mc <= 240, depth kc = 256, columns
// nc <= 4096) in NCHW and channels-last, with and without groups.
TEST(PointwiseBlocking, EveryOperation) {
  struct Blocking {
    std::int64_t batch, in_channels, out_channels, groups;
    Shape input;
  };
  const Blocking cases[] = {{1, 300, 5, 1, {9}},       {1, 3, 250, 1, {11}},
                            {2, 2, 3, 1, {4200}},      {1, 260, 250, 2, {3, 5}},
                            {2, 70, 70, 1, {30, 40}},  {1, 33, 270, 3, {2, 3, 4}}};
  for (const auto& c : cases)
    for (const Op op : kConvOps)
      for (const Layout layout : {Layout::contiguous, Layout::channels_last})
        for (const ValueMode mode : {ValueMode::int_f32, ValueMode::real_f32}) {
          auto params = fc::ConvParams(int(c.input.size())).groups(c.groups);
          auto p = fctest::make_problem(op, c.batch, c.in_channels, c.out_channels, c.input,
                                        Shape(c.input.size(), 1), params, op != Op::backward_data);
          p.seed = 1;
          for (auto& operand : p.operands)
            if (operand.shape.size() > 1) operand.layout = layout;
          EXPECT_EQ(fctest::check_engine_against_reference(p, fc::Engine::pointwise, mode), "");
        }
}

// The generator really produces what the tests above claim to cover.
TEST(PointwiseGenerator, CoversEveryFeaturePerOperation) {
  for (const Op op : kConvOps) {
    std::map<std::string, int> seen;
    for (std::uint64_t seed = 1; seed <= kProblemsPerTest; ++seed) {
      const auto p = random_pointwise_problem(op, seed, false);
      seen["dims=" + std::to_string(p.spatial_dims)]++;
      seen[p.batch == 1 ? "batch=1" : "batch>1"]++;
      if (p.groups > 1 && p.groups == p.in_channels) seen["depthwise"]++;
      else if (p.groups > 1) seen["groups"]++;
      if (p.has_bias) seen["bias"]++;
      if ((p.in_channels / p.groups) % 2 == 1 && p.in_channels / p.groups > 1) seen["odd C/g"]++;
      bool dilated = false, output_padding = false;
      for (int i = 0; i < p.spatial_dims; ++i) {
        dilated = dilated || p.params.dilations[i] > 1;
        output_padding = output_padding || p.params.output_paddings[i] > 0;
      }
      if (dilated) seen["dilation"]++;
      if (output_padding) seen["output_padding"]++;
      for (const auto& operand : p.operands)
        seen[operand.name + ":" + fctest::layout_name(operand.layout)]++;
    }
    const std::string in = op == Op::backward_data ? "diff_dst" : "src";
    const std::string out = op == Op::backward_data    ? "diff_src"
                            : op == Op::backward_weights ? "diff_dst"
                                                         : "dst";
    std::set<std::string> wanted = {"dims=1",   "dims=2",       "dims=3",
                                    "batch=1",  "batch>1",      "depthwise",
                                    "groups",   "odd C/g",      "dilation",
                                    in + ":contiguous", in + ":channels_last",
                                    in + ":gapped", in + ":reversed", out + ":channels_last",
                                    out + ":gapped"};
    if (op != Op::backward_data) wanted.insert("bias");
    if (op == Op::transposed) wanted.insert("output_padding");
    for (const auto& feature : wanted)
      EXPECT_GE(seen[feature], 3) << fctest::op_name(op) << ": " << feature;
  }
}

fc::ConvArgs forward_shapes(const Shape& src, const Shape& weight, const Shape& dst) {
  fc::ConvArgs args;
  args.src = fctest::raw_view(nullptr, fc::DType::float32, src);
  args.weight = fctest::raw_view(nullptr, fc::DType::float32, weight);
  args.dst = fctest::raw_view(nullptr, fc::DType::float32, dst);
  return args;
}

TEST(PointwiseDeclines, NonOneByOneKernelsAndPaddingWithAReason) {
  const auto plan = [](const fc::ConvArgs& args, const fc::ConvParams& params) {
    return fc::ConvPlan(fc::ConvKind::forward, args, params, fc::Engine::pointwise);
  };
  using fctest::throws;
  const auto invalid = fc::ErrorKind::engine_declined;  // a valid problem this engine does not take
  EXPECT_TRUE(throws([&] { plan(forward_shapes({1, 4, 8, 8}, {2, 4, 3, 3}, {1, 2, 6, 6}),
                                fc::ConvParams(2)); },
                     invalid, {"pointwise", "declines", "kernel 3x3 is not 1x1"}));
  EXPECT_TRUE(throws([&] { plan(forward_shapes({1, 4, 8}, {2, 4, 3}, {1, 2, 6}),
                                fc::ConvParams(1)); },
                     invalid, {"pointwise", "declines", "kernel 3 is not 1"}));
  EXPECT_TRUE(throws([&] { plan(forward_shapes({1, 4, 4, 8, 8}, {2, 4, 1, 1, 2},
                                               {1, 2, 4, 8, 7}), fc::ConvParams(3)); },
                     invalid, {"pointwise", "declines", "kernel 1x1x2 is not 1x1x1"}));
  EXPECT_TRUE(throws([&] { plan(forward_shapes({1, 4, 8, 8}, {2, 4, 1, 1}, {1, 2, 10, 8}),
                                fc::ConvParams(2).padding({1, 0})); },
                     invalid, {"pointwise", "declines", "padding"}));
  // Strided: forward only.
  EXPECT_EQ(plan(forward_shapes({1, 4, 8, 8}, {2, 4, 1, 1}, {1, 2, 4, 8}), fc::ConvParams(2).stride({2, 1})).engine(),
            fc::Engine::pointwise);
  fc::ConvArgs strided;
  strided.diff_dst = fctest::raw_view(nullptr, fc::DType::float32, Shape{1, 2, 4, 8});
  strided.weight = fctest::raw_view(nullptr, fc::DType::float32, Shape{2, 4, 1, 1});
  strided.diff_src = fctest::raw_view(nullptr, fc::DType::float32, Shape{1, 4, 8, 8});
  EXPECT_TRUE(throws([&] { fc::ConvPlan(fc::ConvKind::backward_data, strided, fc::ConvParams(2).stride({2, 1}),
                                        fc::Engine::pointwise); },
                     invalid, {"pointwise", "declines", "stride 2x1 is not 1 for a backward direction"}));
  // Every direction declines the same way.
  fc::ConvArgs backward;
  backward.diff_dst = fctest::raw_view(nullptr, fc::DType::float64, Shape{1, 2, 6, 6});
  backward.weight = fctest::raw_view(nullptr, fc::DType::float64, Shape{2, 4, 3, 3});
  backward.diff_src = fctest::raw_view(nullptr, fc::DType::float64, Shape{1, 4, 8, 8});
  EXPECT_TRUE(throws([&] { fc::ConvPlan(fc::ConvKind::backward_data, backward, fc::ConvParams(2),
                                        fc::Engine::pointwise); },
                     invalid, {"pointwise", "declines", "kernel 3x3 is not 1x1"}));
}

TEST(PointwiseAuto, ChosenForOneByOneUnpaddedProblems) {
  const auto chosen = [](fc::ConvKind kind, const fc::ConvArgs& args, const fc::ConvParams& p) {
    return fc::ConvPlan(kind, args, p, fc::Engine::automatic).engine();
  };
  // NCHW and channels-last views, 2-D and 1-D and 3-D, groups with several channels per group.
  EXPECT_EQ(chosen(fc::ConvKind::forward,
                   forward_shapes({1, 64, 56, 56}, {256, 64, 1, 1}, {1, 256, 56, 56}),
                   fc::ConvParams(2)),
            fc::Engine::pointwise);
  EXPECT_EQ(chosen(fc::ConvKind::forward, forward_shapes({2, 64, 9}, {40, 32, 1}, {2, 40, 9}),
                   fc::ConvParams(1).groups(2)),
            fc::Engine::pointwise);
  // ... except few input channels per group and thin groups, which few_channels takes first.
  EXPECT_EQ(chosen(fc::ConvKind::forward, forward_shapes({2, 6, 9}, {4, 3, 1}, {2, 4, 9}),
                   fc::ConvParams(1).groups(2)),
            fc::Engine::few_channels);
  EXPECT_EQ(chosen(fc::ConvKind::forward,
                   forward_shapes({1, 24, 3, 5, 5}, {8, 24, 1, 1, 1}, {1, 8, 3, 5, 5}),
                   fc::ConvParams(3)),
            fc::Engine::pointwise);
  fc::ConvArgs weights;
  weights.src = fctest::raw_view(nullptr, fc::DType::float32, Shape{2, 16, 7, 7});
  weights.diff_dst = fctest::raw_view(nullptr, fc::DType::float32, Shape{2, 32, 7, 7});
  weights.diff_weight = fctest::raw_view(nullptr, fc::DType::float32, Shape{32, 16, 1, 1});
  EXPECT_EQ(chosen(fc::ConvKind::backward_weights, weights, fc::ConvParams(2)),
            fc::Engine::pointwise);
  // Not for 3x3 kernels or padded 1x1; strided 1x1 forward (ResNet's downsampling) yes.
  EXPECT_NE(chosen(fc::ConvKind::forward,
                   forward_shapes({1, 64, 56, 56}, {64, 64, 3, 3}, {1, 64, 54, 54}),
                   fc::ConvParams(2)),
            fc::Engine::pointwise);
  EXPECT_NE(chosen(fc::ConvKind::forward,
                   forward_shapes({1, 4, 8, 8}, {2, 4, 1, 1}, {1, 2, 10, 10}),
                   fc::ConvParams(2).padding({1})),
            fc::Engine::pointwise);
  EXPECT_EQ(chosen(fc::ConvKind::forward,
                   forward_shapes({1, 256, 56, 56}, {512, 256, 1, 1}, {1, 512, 28, 28}),
                   fc::ConvParams(2).stride({2})),
            fc::Engine::pointwise);
}

// Channels-last, one call, real data: the plan that `auto` makes gives the reference's result.
TEST(PointwiseAuto, ChannelsLastForwardMatchesReference) {
  auto p = fctest::make_problem(Op::forward, 2, 24, 40, {13, 11}, {1, 1}, fc::ConvParams(2), true);
  p.seed = 7;
  for (auto& operand : p.operands)
    if (operand.shape.size() > 1) operand.layout = Layout::channels_last;
  EXPECT_EQ(fctest::check_engine_against_reference(p, fc::Engine::automatic, ValueMode::int_f32),
            "");
}

TEST(PointwiseEmptyBatch, ZeroesWeightGradientsAndWritesNothingElse) {
  for (const Layout layout : {Layout::contiguous, Layout::channels_last}) {
    fctest::Tensor src(fc::DType::float32, {0, 6, 5, 5}, layout);
    fctest::Tensor diff_dst(fc::DType::float32, {0, 4, 5, 5}, layout);
    fctest::Tensor diff_weight(fc::DType::float32, {4, 3, 1, 1});
    fctest::Tensor diff_bias(fc::DType::float32, {4});
    diff_weight.fill(fctest::kSentinel);
    diff_bias.fill(fctest::kSentinel);
    const auto bias_view = diff_bias.view();
    fc::conv_backward_weights(src.view(), diff_dst.view(), diff_weight.view(), &bias_view,
                              fc::ConvParams(2).groups(2), fc::Engine::pointwise);
    for (const double value : diff_weight.to_dense()) EXPECT_EQ(value, 0.0);
    for (const double value : diff_bias.to_dense()) EXPECT_EQ(value, 0.0);
    fctest::Tensor dst(fc::DType::float32, {0, 4, 5, 5}, layout);
    fctest::Tensor weight(fc::DType::float32, {4, 3, 1, 1});
    EXPECT_NO_THROW(fc::conv_forward(src.view(), weight.view(), nullptr, dst.view(),
                                     fc::ConvParams(2).groups(2), fc::Engine::pointwise));
  }
}

// Workspace: GEMM packing only, bounded by its cache blocks, so the same for a 128x128 and a
// 1024x1024 image, and a small fraction of the image.
TEST(PointwiseWorkspace, IndependentOfTheImageSize) {
  for (const fc::ConvKind kind : {fc::ConvKind::forward, fc::ConvKind::backward_data,
                                  fc::ConvKind::backward_weights}) {
    std::size_t bytes[2] = {};
    const std::int64_t sizes[2] = {128, 1024};
    for (int i = 0; i < 2; ++i) {
      const Shape src{1, 64, sizes[i], sizes[i]}, weight{256, 64, 1, 1},
          dst{1, 256, sizes[i], sizes[i]};
      fc::ConvArgs args;
      const auto view = [](const Shape& shape) {
        return fctest::raw_view(nullptr, fc::DType::float32, shape);
      };
      if (kind == fc::ConvKind::forward) {
        args = forward_shapes(src, weight, dst);
      } else if (kind == fc::ConvKind::backward_data) {
        args.diff_dst = view(dst);
        args.weight = view(weight);
        args.diff_src = view(src);
      } else {
        args.src = view(src);
        args.diff_dst = view(dst);
        args.diff_weight = view(weight);
      }
      bytes[i] = fc::ConvPlan(kind, args, fc::ConvParams(2), fc::Engine::pointwise)
                     .workspace_bytes();
    }
    EXPECT_EQ(bytes[0], bytes[1]);
    EXPECT_LE(bytes[1], std::size_t(64 * 1024 * 1024) * sizeof(float) / 32);
  }
}

}  // namespace
