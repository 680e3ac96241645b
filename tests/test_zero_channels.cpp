// Problems with nothing to multiply: zero input channels (C = 0), zero output channels (K = 0)
// or an empty batch (N = 0), as PyTorch users meet them (torch.nn.Conv2d(0, 4, 3),
// Conv2d(4, 0, 3), empty batches). Every output is an empty sum plus its bias
// (src/plan/degenerate_runs.hpp); every engine that plans such a problem must give exactly
// the independent naive oracle's values, in every layout and API path, and write nothing
// outside its outputs.
#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/check.hpp"
#include "support/engine_checks.hpp"
#include "support/naive.hpp"
#include "support/problem.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fctest::Op;
using fctest::Problem;
using Shape = std::vector<std::int64_t>;

enum class Zero { in_channels, out_channels, batch };
constexpr Zero kAllZeros[] = {Zero::in_channels, Zero::out_channels, Zero::batch};
const char* zero_name(Zero zero) {
  switch (zero) {
    case Zero::in_channels: return "C=0";
    case Zero::out_channels: return "K=0";
    case Zero::batch: return "N=0";
  }
  return "?";
}

// The shared generator's problem for (op, seed) with one size set to zero, operand layouts and
// API path drawn again. unfold / fold have no K: their K = 0 case is C = 0.
Problem zero_problem(Op op, std::uint64_t seed, Zero zero) {
  Problem p = fctest::random_problem(op, seed);
  const bool windows = op == Op::unfold || op == Op::fold;
  if (zero == Zero::batch) {
    p.batch = 0;
  } else if (zero == Zero::in_channels || windows) {
    p.in_channels = 0;
    if (windows) p.out_channels = 0;
  } else {
    p.out_channels = 0;
  }
  fctest::finalize(p);
  fctest::Rng rng(fctest::mix_seed(seed, 0x2E80));
  fctest::finish_random_problem(p, seed, rng, fctest::kRandomProblemLayoutOdds);
  return p;
}

// Runs p on `engine` with integer-valued inputs and sentinel-filled outputs. "" when its
// outputs equal the naive oracle's exactly with no storage gap written, else a report (every
// engine takes a degenerate problem: a decline is a failure too).
std::string check_against_naive(const Problem& p, fc::Engine engine, fc::DType dtype) {
  fctest::Rng values(fctest::mix_seed(p.seed, 0x2E81));
  auto tensors = fctest::allocate(p, dtype, /*use_layouts=*/true);
  fctest::fill_int_inputs(p, tensors, values, -3, 3);
  fctest::fill_outputs_with_sentinel(p, tensors);
  const std::string what = std::string(fc::engine_name(engine)) + " " + fc::dtype_name(dtype) +
                           ": " + p.describe() + "\n  " + fctest::reproduce_hint(p.seed) + "\n";
  try {
    fctest::run(p, tensors, engine, p.api);
  } catch (const fc::Error& error) {
    return what + "  threw: " + error.what();
  }
  std::vector<std::vector<double>> inputs;
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (!p.operands[i].is_output) inputs.push_back(tensors[i].to_dense());
  const auto expected = fctest::naive_run(p, inputs);
  std::string report;
  std::size_t out_index = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!p.operands[i].is_output) continue;
    if (const auto touched = tensors[i].touched_gap_count(fctest::kSentinel))
      report += "  " + p.operands[i].name + ": " + std::to_string(touched) +
                " storage elements outside the view were written\n";
    report += fctest::compare_values(p.operands[i].name, p.operands[i].shape,
                                     tensors[i].to_dense(), expected[out_index++], nullptr, 0, 0.0);
  }
  return report.empty() ? "" : what + report;
}

class ZeroSized : public ::testing::TestWithParam<Op> {};

TEST_P(ZeroSized, EveryEngineGivesTheDefinitionsValues) {
  const Op op = GetParam();
  for (Zero zero : kAllZeros) {
    fctest::expect_no_failed_problems(
        40, [&](std::uint64_t seed) { return zero_problem(op, seed, zero); },
        [](const Problem& p) {
          std::string report;
          const bool windows = p.op == Op::unfold || p.op == Op::fold;
          for (fc::Engine engine : windows ? std::span<const fc::Engine>(fc::kWindowEngines)
                                           : std::span<const fc::Engine>(fc::kAllEngines))
            for (fc::DType dtype : {fc::DType::float32, fc::DType::float64})
              report += check_against_naive(p, engine, dtype);
          return report;
        },
        zero_name(zero));
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, ZeroSized, ::testing::ValuesIn(fctest::kAllOps),
                         [](const auto& info) { return std::string(fctest::op_name(info.param)); });

// Known values: torch.nn.Conv2d(0, 4, 3) on (2, 0, 5, 5) is its bias over (2, 4, 3, 3);
// Conv2d(4, 0, 3) gives (2, 0, 3, 3); backward_weights with C = 0 gives diff_bias = sum of
// diff_dst; backward_data with K = 0 gives zeros.
TEST(ZeroChannels, KnownValues) {
  const fc::ConvParams params(2);
  EXPECT_EQ(fc::conv_output_shape(Shape{2, 0, 5, 5}, Shape{4, 0, 3, 3}, params), (Shape{2, 4, 3, 3}));
  EXPECT_EQ(fc::conv_output_shape(Shape{2, 4, 5, 5}, Shape{0, 4, 3, 3}, params), (Shape{2, 0, 3, 3}));
  EXPECT_EQ(fc::conv_transpose_output_shape(Shape{2, 0, 5, 5}, Shape{0, 3, 3, 3}, params),
            (Shape{2, 3, 7, 7}));
  EXPECT_EQ(fc::conv_transpose_output_shape(Shape{2, 4, 5, 5}, Shape{4, 0, 3, 3}, params),
            (Shape{2, 0, 7, 7}));

  std::vector<float> bias{1.5f, -2.0f, 0.25f, 3.0f}, out(2 * 4 * 3 * 3, -99.0f);
  const auto src = fc::make_view(static_cast<float*>(nullptr), {2, 0, 5, 5});
  const auto weight = fc::make_view(static_cast<float*>(nullptr), {4, 0, 3, 3});
  const auto b = fc::make_view(bias.data(), {4});
  for (fc::Engine engine : {fc::Engine::automatic, fc::Engine::reference, fc::Engine::im2col}) {
    fc::conv_forward(src, weight, &b, fc::make_view(out.data(), {2, 4, 3, 3}), params, engine);
    for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], bias[i / 9 % 4]) << i;
  }

  std::vector<float> diff_dst(2 * 4 * 3 * 3), diff_bias(4, -99.0f);
  for (std::size_t i = 0; i < diff_dst.size(); ++i) diff_dst[i] = float(i % 7);
  const auto diff_bias_view = fc::make_view(diff_bias.data(), {4});
  fc::conv_backward_weights(src, fc::make_view(diff_dst.data(), {2, 4, 3, 3}), weight,
                            &diff_bias_view, params);
  for (int k = 0; k < 4; ++k) {
    float sum = 0;
    for (int n = 0; n < 2; ++n)
      for (int i = 0; i < 9; ++i) sum += diff_dst[std::size_t((n * 4 + k) * 9 + i)];
    EXPECT_EQ(diff_bias[std::size_t(k)], sum) << k;
  }

  std::vector<float> diff_src(2 * 4 * 5 * 5, -99.0f);
  fc::conv_backward_data(fc::make_view(static_cast<float*>(nullptr), {2, 0, 3, 3}),
                         fc::make_view(static_cast<float*>(nullptr), {0, 4, 3, 3}),
                         fc::make_view(diff_src.data(), {2, 4, 5, 5}), params);
  for (float value : diff_src) ASSERT_EQ(value, 0.0f);
}

// Zero is accepted where torch's rules allow it: groups must still divide both channel counts
// and weight.shape[1] must be C / groups; negative sizes are refused with the argument named.
TEST(ZeroChannels, ValidationStillChecksGroupsAndSigns) {
  fc::ConvParams grouped(2);
  grouped.groups(2);
  EXPECT_EQ(fc::conv_output_shape(Shape{1, 0, 4, 4}, Shape{4, 0, 3, 3}, grouped), (Shape{1, 4, 2, 2}));
  EXPECT_EQ(fc::conv_output_shape(Shape{1, 4, 4, 4}, Shape{0, 2, 3, 3}, grouped), (Shape{1, 0, 2, 2}));
  const auto expect_invalid = [](const Shape& src, const Shape& weight, const fc::ConvParams& params,
                                 const std::string& needle) {
    try {
      fc::conv_output_shape(src, weight, params);
      ADD_FAILURE() << "accepted src " << src.size() << "-d, expected an error naming " << needle;
    } catch (const fc::Error& error) {
      EXPECT_EQ(error.kind(), fc::ErrorKind::invalid_argument);
      EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
    }
  };
  expect_invalid({1, 0, 4, 4}, {3, 0, 3, 3}, grouped, "groups");     // 2 does not divide K = 3
  expect_invalid({1, 0, 4, 4}, {4, 1, 3, 3}, grouped, "weight.shape[1]");
  expect_invalid({1, -1, 4, 4}, {4, 0, 3, 3}, fc::ConvParams(2), "src channels");
  expect_invalid({1, 4, 4, 4}, {-2, 4, 3, 3}, fc::ConvParams(2), "out-channels");
}

// prepare_conv's path: a plan of a degenerate problem packs its (empty) weights and runs.
TEST(ZeroChannels, PlansWithPackedWeightsRun) {
  for (fc::Engine engine : fc::kAllEngines) {
    for (const auto& [src_shape, weight_shape] :
         {std::pair{Shape{2, 0, 6, 6}, Shape{4, 0, 3, 3}}, std::pair{Shape{2, 4, 6, 6}, Shape{0, 4, 3, 3}},
          std::pair{Shape{0, 4, 6, 6}, Shape{8, 4, 3, 3}}}) {
      std::vector<float> src(std::size_t(src_shape[0] * src_shape[1] * 36), 1.0f);
      std::vector<float> bias(std::size_t(weight_shape[0]), 2.5f);
      const Shape dst_shape{src_shape[0], weight_shape[0], 4, 4};
      std::vector<float> dst(std::size_t(dst_shape[0] * dst_shape[1] * 16), -99.0f);
      std::vector<float> weight(std::size_t(weight_shape[0] * weight_shape[1] * 9), 1.0f);
      const auto view = [](std::vector<float>& values, const Shape& shape) {
        return fc::TensorView::contiguous(values.data(), fc::DType::float32, shape);
      };
      fc::ConvArgs args{.src = view(src, src_shape),
                        .weight = view(weight, weight_shape),
                        .bias = view(bias, {weight_shape[0]}),
                        .dst = view(dst, dst_shape)};
      fc::ConvPlan plan(fc::ConvKind::forward, args, fc::ConvParams(2), engine);
      EXPECT_EQ(plan.workspace_bytes(), 0u);
      plan.pack_weights(args.weight);
      args.weight = {};
      plan.run(args);
      for (float value : dst) ASSERT_EQ(value, 2.5f) << fc::engine_name(engine);
    }
  }
}

}  // namespace
