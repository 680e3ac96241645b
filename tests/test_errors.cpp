// Every invalid call throws fastconv::Error of the right kind, with a message naming the
// operation, the argument and the bad value, and writes nothing to the output (filled with a
// sentinel beforehand and compared afterwards). Each case runs on every engine. This file:
// conv_forward's operands and parameters, and ConvPlan's operands per kind; the other
// operations, ConvParams, shape functions and names are in test_errors_other.cpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/expect_error.hpp"
#include "support/engines.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fc::ErrorKind;
using fctest::Tensor;
using Shape = std::vector<std::int64_t>;
using fctest::throws;
using fctest::Words;
constexpr auto f32 = fc::DType::float32;
constexpr auto f64 = fc::DType::float64;

// A valid grouped forward problem: src (2,6,7,7), weight (4,3,3,3), groups 2, bias (4),
// dst (2,4,5,5). Tests break one thing at a time.
struct Forward {
  Tensor src{f32, {2, 6, 7, 7}};
  Tensor weight{f32, {4, 3, 3, 3}};
  Tensor bias{f32, {4}};
  Tensor dst{f32, {2, 4, 5, 5}};
  fc::ConvParams params = fc::ConvParams(2).groups(2);
  Forward() {
    fctest::Rng rng(3);
    src.fill_int(rng, -3, 3);
    weight.fill_int(rng, -3, 3);
    bias.fill_int(rng, -3, 3);
    dst.fill_storage(fctest::kSentinel);
  }
  bool dst_untouched() const { return dst.all_storage_is(fctest::kSentinel); }
};

class Errors : public ::testing::TestWithParam<fc::Engine> {
 protected:
  fc::Engine engine() const { return GetParam(); }
  // conv_forward with replaceable pieces.
  void forward(const fc::TensorView& src, const fc::TensorView& weight, const fc::TensorView* bias,
               const fc::TensorView& dst, const fc::ConvParams& params) const {
    fc::conv_forward(src, weight, bias, dst, params, engine());
  }
};

TEST_P(Errors, ValidBaseProblemRuns) {
  Forward c;
  const auto bias = c.bias.view();
  EXPECT_NO_THROW(forward(c.src.view(), c.weight.view(), &bias, c.dst.view(), c.params));
  EXPECT_FALSE(c.dst_untouched());
}

TEST_P(Errors, RankMismatch) {
  Forward c;
  const auto bias = c.bias.view();
  Tensor weight3(f32, {4, 3, 3}), dst5(f32, {2, 4, 5, 5, 1}), src2(f32, {2, 6});
  Tensor src6(f32, {1, 6, 2, 2, 2, 2});
  EXPECT_TRUE(throws([&] { forward(c.src.view(), weight3.view(), &bias, c.dst.view(), c.params); },
                     ErrorKind::invalid_argument, {"conv_forward", "weight", "3"}));
  EXPECT_TRUE(throws([&] { forward(c.src.view(), c.weight.view(), &bias, dst5.view(), c.params); },
                     ErrorKind::invalid_argument, {"conv_forward", "dst", "5"}));
  EXPECT_TRUE(throws([&] { forward(src2.view(), c.weight.view(), &bias, c.dst.view(), c.params); },
                     ErrorKind::invalid_argument, {"conv_forward", "src", "2"}));
  EXPECT_TRUE(throws([&] { forward(src6.view(), c.weight.view(), &bias, c.dst.view(), c.params); },
                     ErrorKind::invalid_argument, {"conv_forward", "src", "6"}));
  // Params for 1 spatial dimension with 2-D operands.
  EXPECT_TRUE(throws(
      [&] {
        forward(c.src.view(), c.weight.view(), &bias, c.dst.view(), fc::ConvParams(1).groups(2));
      },
      ErrorKind::invalid_argument, {"conv_forward"}, {"spatial", "dims", "params", "rank"}));
  EXPECT_TRUE(c.dst_untouched());
}

TEST_P(Errors, ChannelsAndGroups) {
  Forward c;
  const auto bias = c.bias.view();
  Tensor weight44(f32, {4, 4, 3, 3});
  EXPECT_TRUE(throws([&] { forward(c.src.view(), weight44.view(), &bias, c.dst.view(), c.params); },
                     ErrorKind::invalid_argument, {"conv_forward", "weight", "4", "6"}));
  // groups = 4 does not divide C = 6.
  Tensor weight41(f32, {4, 1, 3, 3});
  EXPECT_TRUE(throws(
      [&] {
        forward(c.src.view(), weight41.view(), &bias, c.dst.view(), fc::ConvParams(2).groups(4));
      },
      ErrorKind::invalid_argument, {"groups", "4"}));
  // groups = 2 does not divide K = 7.
  Tensor weight7(f32, {7, 3, 3, 3}), bias7(f32, {7}), dst7(f32, {2, 7, 5, 5});
  const auto bias7_view = bias7.view();
  dst7.fill_storage(fctest::kSentinel);
  EXPECT_TRUE(
      throws([&] { forward(c.src.view(), weight7.view(), &bias7_view, dst7.view(), c.params); },
             ErrorKind::invalid_argument, {"7"}, {"groups", "weight"}));
  EXPECT_TRUE(dst7.all_storage_is(fctest::kSentinel));
  for (const std::int64_t groups : {0, -2}) {
    EXPECT_TRUE(throws(
        [&] {
          forward(c.src.view(), c.weight.view(), &bias, c.dst.view(),
                  fc::ConvParams(2).groups(groups));
        },
        ErrorKind::invalid_argument, {"groups", std::to_string(groups)}));
  }
  EXPECT_TRUE(c.dst_untouched());
}

TEST_P(Errors, StrideDilationPadding) {
  Forward c;
  const auto bias = c.bias.view();
  auto call = [&](const fc::ConvParams& params) {
    return [&, params] { forward(c.src.view(), c.weight.view(), &bias, c.dst.view(), params); };
  };
  for (const std::int64_t bad : {0, -3}) {
    EXPECT_TRUE(throws(call(fc::ConvParams(2).groups(2).stride({1, bad})),
                       ErrorKind::invalid_argument, {"stride", std::to_string(bad)}));
    EXPECT_TRUE(throws(call(fc::ConvParams(2).groups(2).dilation({bad, 1})),
                       ErrorKind::invalid_argument, {"dilation", std::to_string(bad)}));
  }
  EXPECT_TRUE(throws(call(fc::ConvParams(2).groups(2).padding({-1, 0}, {0, 0})),
                     ErrorKind::invalid_argument, {"pad", "-1"}));
  EXPECT_TRUE(throws(call(fc::ConvParams(2).groups(2).padding({0, 0}, {0, -2})),
                     ErrorKind::invalid_argument, {"pad", "-2"}));
  EXPECT_TRUE(c.dst_untouched());
}

TEST_P(Errors, KernelLargerThanPaddedInput) {
  Tensor src(f32, {1, 1, 3, 3}), weight(f32, {1, 1, 5, 5}), dst(f32, {1, 1, 1, 1});
  dst.fill_storage(fctest::kSentinel);
  EXPECT_TRUE(
      throws([&] { forward(src.view(), weight.view(), nullptr, dst.view(), fc::ConvParams(2)); },
             ErrorKind::invalid_argument, {"5"}, {"kernel", "weight", "src", "input"}));
  EXPECT_TRUE(dst.all_storage_is(fctest::kSentinel));
  // With padding 1 the padded input is exactly the kernel: valid, one output.
  EXPECT_NO_THROW(
      forward(src.view(), weight.view(), nullptr, dst.view(), fc::ConvParams(2).padding({1})));
}

TEST_P(Errors, BiasShape) {
  Forward c;
  Tensor bias5(f32, {5}), bias2d(f32, {4, 1});
  const auto b5 = bias5.view(), b2 = bias2d.view();
  EXPECT_TRUE(throws([&] { forward(c.src.view(), c.weight.view(), &b5, c.dst.view(), c.params); },
                     ErrorKind::invalid_argument, {"bias", "5"}));
  EXPECT_TRUE(throws([&] { forward(c.src.view(), c.weight.view(), &b2, c.dst.view(), c.params); },
                     ErrorKind::invalid_argument, {"bias"}));
  EXPECT_TRUE(c.dst_untouched());
}

TEST_P(Errors, OutputViewOfWrongShape) {
  Forward c;
  const auto bias = c.bias.view();
  for (const auto& [shape, word] : std::vector<std::pair<Shape, std::string>>{
           {{2, 4, 6, 5}, "6"}, {{2, 5, 5, 5}, "5"}, {{3, 4, 5, 5}, "3"}, {{2, 4, 5, 4}, "4"}}) {
    Tensor dst(f32, shape);
    dst.fill_storage(fctest::kSentinel);
    EXPECT_TRUE(throws([&] { forward(c.src.view(), c.weight.view(), &bias, dst.view(), c.params); },
                       ErrorKind::invalid_argument, {"dst", word}))
        << fctest::shape_string(shape);
    EXPECT_TRUE(dst.all_storage_is(fctest::kSentinel));
  }
}

TEST_P(Errors, NullDataWithNonZeroSize) {
  Forward c;
  auto null = [](fc::TensorView view) {
    view.data = nullptr;
    return view;
  };
  const auto bias = c.bias.view(), null_bias = null(c.bias.view());
  EXPECT_TRUE(
      throws([&] { forward(null(c.src.view()), c.weight.view(), &bias, c.dst.view(), c.params); },
             ErrorKind::invalid_argument, {"src", "null"}));
  EXPECT_TRUE(
      throws([&] { forward(c.src.view(), null(c.weight.view()), &bias, c.dst.view(), c.params); },
             ErrorKind::invalid_argument, {"weight", "null"}));
  EXPECT_TRUE(
      throws([&] { forward(c.src.view(), c.weight.view(), &null_bias, c.dst.view(), c.params); },
             ErrorKind::invalid_argument, {"bias", "null"}));
  EXPECT_TRUE(
      throws([&] { forward(c.src.view(), c.weight.view(), &bias, null(c.dst.view()), c.params); },
             ErrorKind::invalid_argument, {"dst", "null"}));
  EXPECT_TRUE(c.dst_untouched());
}

TEST_P(Errors, OutputOverlapsAnInput) {
  // C = K = 4, kernel 3, padding 1: dst has src's shape, so dst can alias src exactly.
  Tensor src(f32, {1, 4, 5, 5}), weight(f32, {4, 4, 3, 3}), bias(f32, {4});
  fctest::Rng rng(9);
  src.fill_int(rng, -3, 3);
  weight.fill_int(rng, -3, 3);
  const auto params = fc::ConvParams(2).padding({1});
  const auto before = src.storage_bytes();
  const auto bias_view = bias.view();
  EXPECT_TRUE(throws([&] { forward(src.view(), weight.view(), &bias_view, src.view(), params); },
                     ErrorKind::invalid_argument, {"dst"}, {"overlap", "alias"}));
  // Partial overlap: dst starts in the middle of src's buffer.
  std::vector<float> shared(200, 1.0f);
  const auto shared_src = fctest::raw_view(shared.data(), f32, Shape{1, 4, 5, 5});
  const auto shifted_dst = fctest::raw_view(shared.data() + 37, f32, Shape{1, 4, 5, 5});
  const auto shared_before = shared;
  EXPECT_TRUE(throws([&] { forward(shared_src, weight.view(), &bias_view, shifted_dst, params); },
                     ErrorKind::invalid_argument, {"dst"}, {"overlap", "alias"}));
  EXPECT_EQ(shared, shared_before);
  // dst inside the weight or the bias buffer.
  std::vector<float> big(1000, 2.0f);
  const auto weight_in_big = fctest::raw_view(big.data(), f32, Shape{4, 4, 3, 3});
  const auto dst_in_big = fctest::raw_view(big.data() + 100, f32, Shape{1, 4, 5, 5});
  EXPECT_TRUE(throws([&] { forward(src.view(), weight_in_big, &bias_view, dst_in_big, params); },
                     ErrorKind::invalid_argument, {"dst"}, {"overlap", "alias"}));
  const auto bias_in_big = fctest::raw_view(big.data() + 150, f32, Shape{4});
  const auto dst_at_start = fctest::raw_view(big.data() + 300, f32, Shape{1, 4, 5, 5});
  const auto dst_over_bias = fctest::raw_view(big.data() + 140, f32, Shape{1, 4, 5, 5});
  EXPECT_NO_THROW(forward(src.view(), weight.view(), &bias_in_big, dst_at_start, params));
  EXPECT_TRUE(
      throws([&] { forward(src.view(), weight.view(), &bias_in_big, dst_over_bias, params); },
             ErrorKind::invalid_argument, {"dst"}, {"overlap", "alias"}));
  EXPECT_TRUE(src.storage_equals(before));
}

TEST_P(Errors, SizesThatOverflow64Bits) {
  // Small real buffers: the library must reject the shapes before touching memory.
  std::vector<float> src_buffer(64, 0.0f), weight_buffer(4, 0.0f), dst_buffer(64, 0.0f);
  const std::vector<float> zeros(64, 0.0f);
  auto strided = [](float* data, Shape shape, Shape strides) {
    return fc::TensorView::strided(data, f32, shape, strides);
  };
  const auto weight = fctest::raw_view(weight_buffer.data(), f32, Shape{1, 1, 1, 1});
  // Element count 2^80.
  const std::int64_t two40 = std::int64_t(1) << 40;
  EXPECT_TRUE(throws(
      [&] {
        forward(strided(src_buffer.data(), {1, 1, two40, two40}, {1, 1, two40, 1}), weight, nullptr,
                strided(dst_buffer.data(), {1, 1, two40, two40}, {1, 1, two40, 1}),
                fc::ConvParams(2));
      },
      ErrorKind::overflow, {}, {"src", "dst"}));
  // Contiguous (1, 1, 2^31, 2^31): 2^62 elements fit in 64 bits, 2^64 bytes do not.
  const std::int64_t two31 = std::int64_t(1) << 31;
  EXPECT_TRUE(throws(
      [&] {
        forward(strided(src_buffer.data(), {1, 1, two31, two31},
                        {two31 * two31, two31 * two31, two31, 1}),
                weight, nullptr,
                strided(dst_buffer.data(), {1, 1, two31, two31},
                        {two31 * two31, two31 * two31, two31, 1}),
                fc::ConvParams(2));
      },
      ErrorKind::overflow, {}, {"src", "dst"}));
  // Index overflow: 4 elements along an axis with stride 2^62.
  EXPECT_TRUE(throws(
      [&] {
        forward(strided(src_buffer.data(), {1, 1, 4, 4}, {16, 16, std::int64_t(1) << 62, 1}),
                weight, nullptr, fctest::raw_view(dst_buffer.data(), f32, Shape{1, 1, 4, 4}),
                fc::ConvParams(2));
      },
      ErrorKind::overflow, {"src"}));
  EXPECT_EQ(dst_buffer, zeros);
  EXPECT_EQ(src_buffer, zeros);
  // Shape functions.
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  EXPECT_TRUE(throws([&] { fc::conv_output_size(max, 1, 1, 1, max, 0); }, ErrorKind::overflow, {}));
  EXPECT_TRUE(throws([&] { fc::conv_transpose_output_size(max / 2, 1, 4, 1, 0, 0, 0); },
                     ErrorKind::overflow, {}));
}

TEST_P(Errors, MixedAndUnsupportedDtypes) {
  Forward c;
  const auto bias = c.bias.view();
  Tensor src64(f64, {2, 6, 7, 7}), bias64(f64, {4}), dst64(f64, {2, 4, 5, 5});
  dst64.fill_storage(fctest::kSentinel);
  const auto bias64_view = bias64.view();
  const Words dtypes = {fc::dtype_name(f32), fc::dtype_name(f64)};
  EXPECT_TRUE(throws([&] { forward(src64.view(), c.weight.view(), &bias, c.dst.view(), c.params); },
                     ErrorKind::unsupported_dtype, {}, dtypes));
  EXPECT_TRUE(
      throws([&] { forward(c.src.view(), c.weight.view(), &bias64_view, c.dst.view(), c.params); },
             ErrorKind::unsupported_dtype, {"bias"}, dtypes));
  EXPECT_TRUE(throws([&] { forward(c.src.view(), c.weight.view(), &bias, dst64.view(), c.params); },
                     ErrorKind::unsupported_dtype, {}, dtypes));
  auto bogus = c.src.view();
  bogus.dtype = static_cast<fc::DType>(42);
  EXPECT_TRUE(throws([&] { forward(bogus, c.weight.view(), &bias, c.dst.view(), c.params); },
                     ErrorKind::unsupported_dtype, {}));
  EXPECT_TRUE(c.dst_untouched());
  EXPECT_TRUE(dst64.all_storage_is(fctest::kSentinel));
}

TEST_P(Errors, PlanOperandsPerKind) {
  Forward c;
  fc::ConvArgs args;
  args.src = c.src.view();
  args.weight = c.weight.view();
  args.bias = c.bias.view();
  args.dst = c.dst.view();
  auto with = [&](fc::TensorView fc::ConvArgs::*field, const fc::TensorView& view) {
    fc::ConvArgs changed = args;
    changed.*field = view;
    return changed;
  };
  auto plan = [&](fc::ConvKind kind, const fc::ConvArgs& a) {
    return [&, kind, a] { fc::ConvPlan(kind, a, c.params, engine()); };
  };
  EXPECT_TRUE(throws(plan(fc::ConvKind::forward, with(&fc::ConvArgs::diff_dst, c.dst.view())),
                     ErrorKind::invalid_argument, {"diff_dst"}));
  EXPECT_TRUE(throws(plan(fc::ConvKind::forward, with(&fc::ConvArgs::diff_weight, c.weight.view())),
                     ErrorKind::invalid_argument, {"diff_weight"}));
  EXPECT_TRUE(throws(plan(fc::ConvKind::forward, with(&fc::ConvArgs::weight, fc::TensorView{})),
                     ErrorKind::invalid_argument, {"weight"}));
  // backward_data uses diff_dst, weight, diff_src, and accepts the forward's src and bias (an
  // inner operation's gradient reads them; the convolution's does not): dst must stay empty.
  fc::ConvArgs data_args;
  data_args.diff_dst = c.dst.view();
  data_args.weight = c.weight.view();
  data_args.diff_src = c.src.view();
  EXPECT_NO_THROW(fc::ConvPlan(fc::ConvKind::backward_data, data_args, c.params, engine()));
  data_args.bias = c.bias.view();
  EXPECT_NO_THROW(fc::ConvPlan(fc::ConvKind::backward_data, data_args, c.params, engine()));
  data_args.dst = c.dst.view();
  EXPECT_TRUE(
      throws(plan(fc::ConvKind::backward_data, data_args), ErrorKind::invalid_argument, {"dst"}));
  fc::ConvArgs weight_args;
  weight_args.src = c.src.view();
  weight_args.diff_dst = c.dst.view();
  weight_args.diff_weight = c.weight.view();
  weight_args.dst = c.dst.view();
  EXPECT_TRUE(throws(plan(fc::ConvKind::backward_weights, weight_args), ErrorKind::invalid_argument,
                     {"dst"}));
  weight_args.dst = fc::TensorView{};
  weight_args.diff_weight = fc::TensorView{};
  EXPECT_TRUE(throws(plan(fc::ConvKind::backward_weights, weight_args), ErrorKind::invalid_argument,
                     {"diff_weight"}));
  // run(): an operand the kind does not use, and views of other shapes than the plan's.
  const fc::ConvPlan forward_plan(fc::ConvKind::forward, args, c.params, engine());
  EXPECT_TRUE(throws([&] { forward_plan.run(with(&fc::ConvArgs::diff_src, c.src.view())); },
                     ErrorKind::invalid_argument, {"diff_src"}));
  Tensor other_dst(f32, {2, 4, 5, 6});
  other_dst.fill_storage(fctest::kSentinel);
  EXPECT_TRUE(throws([&] { forward_plan.run(with(&fc::ConvArgs::dst, other_dst.view())); },
                     ErrorKind::invalid_argument, {"dst"}));
  EXPECT_TRUE(other_dst.all_storage_is(fctest::kSentinel));
  EXPECT_TRUE(c.dst_untouched());
}

INSTANTIATE_TEST_SUITE_P(AllEngines, Errors, ::testing::ValuesIn(fctest::kGeneralEngines),
                         [](const ::testing::TestParamInfo<fc::Engine>& info) {
                           return std::string(info.param == fc::Engine::automatic
                                                  ? "automatic"
                                                  : fc::engine_name(info.param));
                         });

}  // namespace
