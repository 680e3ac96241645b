// ConvPlan::pack_weights: a plan given its weights once runs without them, on every engine
// that takes the problem, with exactly the results of runs that pass the weights; the plan
// keeps its own copy (the caller's buffer may change or go away); misuse is a clear error.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/expect_error.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fctest::Tensor;
using Shape = std::vector<std::int64_t>;

// A problem every kind reads a weight for: (N, C, H, W) = (2, 8, 9, 7), K = 16, 3x3, groups 2,
// stride (1, 2), padding (1, 0) / (2, 1), dilation (1, 2). Integer values: exact comparisons.
struct Problem {
  fc::DType dtype;
  fc::ConvParams params = fc::ConvParams(2).groups(2).stride({1, 2}).dilation({1, 2})
                              .padding({1, 0}, {2, 1});
  Tensor image, weight, bias, out;
  explicit Problem(fc::DType type, fctest::Layout weight_layout = fctest::Layout::contiguous)
      : dtype(type), image(type, {2, 8, 9, 7}), bias(type, {16}) {
    fctest::Rng rng(11);
    weight = Tensor(type, {16, 4, 3, 3}, weight_layout, &rng);
    image.fill_int(rng, -3, 3);
    weight.fill_int(rng, -3, 3);
    bias.fill_int(rng, -3, 3);
    const Shape out_shape = fc::conv_output_shape(image.view().dims(), weight.view().dims(), params);
    out = Tensor(type, out_shape);
  }
};

std::vector<double> run_forward(const fc::ConvPlan& plan, Problem& p, bool pass_weight) {
  p.out.fill(-1);
  fc::ConvArgs args{.src = p.image.view(), .bias = p.bias.view(), .dst = p.out.view()};
  if (pass_weight) args.weight = p.weight.view();
  plan.run(args);
  return p.out.to_dense();
}

class PackWeights : public ::testing::TestWithParam<fc::Engine> {};

TEST_P(PackWeights, ForwardRunsWithoutWeightAndMatches) {
  for (fc::DType dtype : {fc::DType::float32, fc::DType::float64}) {
    for (auto layout : {fctest::Layout::contiguous, fctest::Layout::channels_last}) {
      Problem p(dtype, layout);
      const fc::ConvArgs shapes{.src = p.image.view(), .weight = p.weight.view(),
                                .bias = p.bias.view(), .dst = p.out.view()};
      fc::ConvPlan plan(fc::ConvKind::forward, shapes, p.params, fc::Engine::reference);
      const std::vector<double> expected = run_forward(plan, p, true);
      try {
        fc::ConvPlan packed(fc::ConvKind::forward, shapes, p.params, GetParam());
        EXPECT_FALSE(packed.has_packed_weights());
        packed.pack_weights(p.weight.view());
        EXPECT_TRUE(packed.has_packed_weights());
        EXPECT_EQ(run_forward(packed, p, false), expected) << fc::engine_name(GetParam());
        EXPECT_EQ(run_forward(packed, p, true), expected);
        // The plan owns a copy: changing the caller's weights changes only runs passing them.
        fctest::Rng rng(5);
        const Tensor original = p.weight.contiguous_copy(dtype);
        p.weight.fill_int(rng, -2, 2);
        EXPECT_EQ(run_forward(packed, p, false), expected);
        EXPECT_EQ(run_forward(packed, p, true), run_forward(plan, p, true));
      } catch (const fc::Error& error) {
        ASSERT_EQ(error.kind(), fc::ErrorKind::engine_declined) << error.what();
      }
    }
  }
}

// Runs `args` through a plan of `kind` on `engine` with the weight passed, then packed and left
// out; the two outputs (in `written`) must be equal.
void expect_packed_run_matches(fc::ConvKind kind, const fc::ConvArgs& args,
                               const fc::ConvParams& params, fc::Engine engine, Tensor& written,
                               const Tensor& weight) {
  try {
    fc::ConvPlan plan(kind, args, params, engine);
    written.fill(0);
    plan.run(args);
    const std::vector<double> expected = written.to_dense();
    plan.pack_weights(weight.view());
    fc::ConvArgs without = args;
    without.weight = {};
    written.fill(-5);
    plan.run(without);
    EXPECT_EQ(written.to_dense(), expected) << fc::conv_kind_name(kind);
  } catch (const fc::Error& error) {
    ASSERT_EQ(error.kind(), fc::ErrorKind::engine_declined) << error.what();
  }
}

TEST_P(PackWeights, TransposedAndBackwardDataUsePackedWeights) {
  Problem p(fc::DType::float32);
  fctest::Rng rng(2);
  // diff_dst / transposed src has the forward output's shape; the transposed weight
  // (C_in = 16, C_out / g = 4, 3, 3) is the same tensor as forward's.
  Tensor dy(fc::DType::float32, p.out.shape());
  dy.fill_int(rng, -3, 3);
  Tensor diff_src(fc::DType::float32, p.image.shape());
  expect_packed_run_matches(fc::ConvKind::backward_data,
                            {.weight = p.weight.view(), .diff_dst = dy.view(),
                             .diff_src = diff_src.view()},
                            p.params, GetParam(), diff_src, p.weight);
  Tensor t_bias(fc::DType::float32, {8});
  t_bias.fill_int(rng, -3, 3);
  Tensor t_dst(fc::DType::float32, fc::conv_transpose_output_shape(dy.view().dims(),
                                                                   p.weight.view().dims(), p.params));
  expect_packed_run_matches(fc::ConvKind::transposed,
                            {.src = dy.view(), .weight = p.weight.view(), .bias = t_bias.view(),
                             .dst = t_dst.view()},
                            p.params, GetParam(), t_dst, p.weight);
}

INSTANTIATE_TEST_SUITE_P(AllEngines, PackWeights, ::testing::ValuesIn(fc::kAllEngines),
                         [](const auto& info) { return std::string(fc::engine_name(info.param)); });

TEST(PackWeightsErrors, MisuseIsAClearError) {
  using fctest::throws;
  Problem p(fc::DType::float32);
  const fc::ConvArgs shapes{.src = p.image.view(), .weight = p.weight.view(),
                            .bias = p.bias.view(), .dst = p.out.view()};
  fc::ConvPlan plan(fc::ConvKind::forward, shapes, p.params);
  // Without packed weights a run must pass them.
  EXPECT_TRUE(throws([&] { plan.run({.src = p.image.view(), .bias = p.bias.view(),
                                     .dst = p.out.view()}); },
                     fc::ErrorKind::invalid_argument, {"weight", "empty"}));
  // Wrong shape and dtype name the weight and the values.
  Tensor wrong(fc::DType::float32, {16, 4, 3, 2});
  EXPECT_TRUE(throws([&] { plan.pack_weights(wrong.view()); }, fc::ErrorKind::invalid_argument,
                     {"pack_weights", "weight", "3, 2"}));
  Tensor wrong_type(fc::DType::float64, {16, 4, 3, 3});
  EXPECT_TRUE(throws([&] { plan.pack_weights(wrong_type.view()); },
                     fc::ErrorKind::unsupported_dtype, {"weight", "float64"}));
  EXPECT_FALSE(plan.has_packed_weights());
  // backward_weights reads no weight.
  Tensor diff_dst(fc::DType::float32, p.out.shape());
  fc::ConvPlan weights_plan(fc::ConvKind::backward_weights,
                            {.src = p.image.view(), .diff_dst = diff_dst.view(),
                             .diff_weight = p.weight.view()},
                            p.params);
  EXPECT_TRUE(throws([&] { weights_plan.pack_weights(p.weight.view()); },
                     fc::ErrorKind::invalid_argument, {"pack_weights", "no weight"}));
}

}  // namespace
