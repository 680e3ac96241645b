// Every invalid call throws fastconv::Error of the right kind, with a message naming the
// operation, the argument and the bad value, and writes nothing to the output (filled with a
// sentinel beforehand and compared afterwards). Each case runs on every engine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fc::ErrorKind;
using fctest::Tensor;
using Shape = std::vector<std::int64_t>;
using Words = std::vector<std::string>;
constexpr auto f32 = fc::DType::float32;
constexpr auto f64 = fc::DType::float64;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return text;
}

const char* kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument:
      return "invalid_argument";
    case ErrorKind::unsupported_dtype:
      return "unsupported_dtype";
    case ErrorKind::overflow:
      return "overflow";
  }
  return "?";
}

// Expects fastconv::Error of `kind` whose message contains every word of `all_of` and at least
// one word of `any_of` (case-insensitive).
template <typename F>
::testing::AssertionResult throws(F&& call, ErrorKind kind, const Words& all_of,
                                  const Words& any_of = {}) {
  try {
    call();
  } catch (const fc::Error& error) {
    const std::string message = lower(error.what());
    if (error.kind() != kind)
      return ::testing::AssertionFailure() << "kind " << kind_name(error.kind()) << " instead of "
                                           << kind_name(kind) << "; message: " << error.what();
    for (const auto& word : all_of)
      if (message.find(lower(word)) == std::string::npos)
        return ::testing::AssertionFailure() << "message lacks '" << word << "': " << error.what();
    if (!any_of.empty() && std::none_of(any_of.begin(), any_of.end(), [&](const std::string& w) {
          return message.find(lower(w)) != std::string::npos;
        })) {
      auto failure = ::testing::AssertionFailure() << "message lacks all of {";
      for (const auto& w : any_of) failure << " '" << w << "'";
      return failure << " }: " << error.what();
    }
    return ::testing::AssertionSuccess();
  } catch (const std::exception& other) {
    return ::testing::AssertionFailure() << "threw a non-fastconv exception: " << other.what();
  } catch (...) {
    return ::testing::AssertionFailure() << "threw a non-std exception";
  }
  return ::testing::AssertionFailure() << "did not throw";
}

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

TEST_P(Errors, OutputsOverlapInOtherKinds) {
  Tensor src(f32, {1, 2, 6}), diff_dst(f32, {1, 3, 4}), weight(f32, {3, 2, 3});
  const auto params = fc::ConvParams(1);
  // backward_weights: diff_bias inside diff_weight; diff_weight inside diff_dst.
  std::vector<float> grads(64, 5.0f);
  const auto diff_weight = fctest::raw_view(grads.data(), f32, Shape{3, 2, 3});
  const auto diff_bias_overlapping = fctest::raw_view(grads.data() + 10, f32, Shape{3});
  const auto before = grads;
  EXPECT_TRUE(throws(
      [&] {
        fc::conv_backward_weights(src.view(), diff_dst.view(), diff_weight, &diff_bias_overlapping,
                                  params, engine());
      },
      ErrorKind::invalid_argument, {}, {"overlap", "alias"}));
  EXPECT_EQ(grads, before);
  std::vector<float> shared(64, 5.0f);
  const auto shared_diff_dst = fctest::raw_view(shared.data(), f32, Shape{1, 3, 4});
  const auto weight_over_diff_dst = fctest::raw_view(shared.data() + 4, f32, Shape{3, 2, 3});
  EXPECT_TRUE(throws(
      [&] {
        fc::conv_backward_weights(src.view(), shared_diff_dst, weight_over_diff_dst, nullptr,
                                  params, engine());
      },
      ErrorKind::invalid_argument, {"diff_weight"}, {"overlap", "alias"}));
  // backward_data: diff_src aliasing diff_dst's buffer.
  const auto diff_src_over = fctest::raw_view(shared.data() + 2, f32, Shape{1, 2, 6});
  EXPECT_TRUE(throws(
      [&] {
        fc::conv_backward_data(shared_diff_dst, weight.view(), diff_src_over, params, engine());
      },
      ErrorKind::invalid_argument, {"diff_src"}, {"overlap", "alias"}));
  // unfold / fold: dst over src.
  const std::int64_t kernel[] = {3};
  std::vector<float> image(64, 1.0f);
  const auto image_src = fctest::raw_view(image.data(), f32, Shape{1, 2, 6});
  const auto columns_over = fctest::raw_view(image.data() + 6, f32, Shape{1, 6, 4});
  EXPECT_TRUE(throws([&] { fc::unfold(image_src, columns_over, kernel, params, engine()); },
                     ErrorKind::invalid_argument, {"dst"}, {"overlap", "alias"}));
  EXPECT_TRUE(throws([&] { fc::fold(columns_over, image_src, kernel, params, engine()); },
                     ErrorKind::invalid_argument, {"dst"}, {"overlap", "alias"}));
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

TEST_P(Errors, TransposedOutputPaddingOutOfRange) {
  Tensor src(f32, {1, 2, 4}), weight(f32, {2, 3, 3});
  auto run = [&](const fc::ConvParams& params, std::int64_t out) {
    Tensor dst(f32, {1, 3, out});
    dst.fill_storage(fctest::kSentinel);
    fc::conv_transpose_forward(src.view(), weight.view(), nullptr, dst.view(), params, engine());
  };
  // stride 2, dilation 1: output_padding must be < 2. Output would be 3*2 + 3 + op.
  EXPECT_NO_THROW(run(fc::ConvParams(1).stride({2}).output_padding({1}), 10));
  EXPECT_TRUE(throws([&] { run(fc::ConvParams(1).stride({2}).output_padding({2}), 11); },
                     ErrorKind::invalid_argument, {"conv_transpose_forward", "2"},
                     {"output_padding", "output padding"}));
  // stride 2, dilation 3: output_padding 2 < dilation is valid, 3 is not.
  EXPECT_NO_THROW(run(fc::ConvParams(1).stride({2}).dilation({3}).output_padding({2}), 15));
  EXPECT_TRUE(
      throws([&] { run(fc::ConvParams(1).stride({2}).dilation({3}).output_padding({3}), 16); },
             ErrorKind::invalid_argument, {"3"}, {"output_padding", "output padding"}));
  EXPECT_TRUE(throws([&] { run(fc::ConvParams(1).stride({2}).output_padding({-1}), 8); },
                     ErrorKind::invalid_argument, {"-1"}, {"output_padding", "output padding"}));
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
  // backward_data uses diff_dst, weight, diff_src: bias and dst must stay empty.
  fc::ConvArgs data_args;
  data_args.diff_dst = c.dst.view();
  data_args.weight = c.weight.view();
  data_args.diff_src = c.src.view();
  EXPECT_NO_THROW(fc::ConvPlan(fc::ConvKind::backward_data, data_args, c.params, engine()));
  data_args.bias = c.bias.view();
  EXPECT_TRUE(
      throws(plan(fc::ConvKind::backward_data, data_args), ErrorKind::invalid_argument, {"bias"}));
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

TEST_P(Errors, BackwardShapes) {
  // Forward geometry: src (1,2,9), weight (3,2,3) -> out 7.
  Tensor diff_dst(f32, {1, 3, 7}), weight(f32, {3, 2, 3}), src(f32, {1, 2, 9});
  Tensor wrong_diff_src(f32, {1, 2, 12});  // conv of 12 gives 10, not 7
  wrong_diff_src.fill_storage(fctest::kSentinel);
  EXPECT_TRUE(throws(
      [&] {
        fc::conv_backward_data(diff_dst.view(), weight.view(), wrong_diff_src.view(),
                               fc::ConvParams(1), engine());
      },
      ErrorKind::invalid_argument, {"conv_backward_data"}, {"diff_src", "diff_dst"}));
  EXPECT_TRUE(wrong_diff_src.all_storage_is(fctest::kSentinel));
  Tensor diff_weight(f32, {3, 2, 3}), diff_bias5(f32, {5}), wrong_weight(f32, {3, 2, 4});
  diff_weight.fill_storage(fctest::kSentinel);
  wrong_weight.fill_storage(fctest::kSentinel);
  const auto db5 = diff_bias5.view();
  EXPECT_TRUE(throws(
      [&] {
        fc::conv_backward_weights(src.view(), diff_dst.view(), diff_weight.view(), &db5,
                                  fc::ConvParams(1), engine());
      },
      ErrorKind::invalid_argument, {"conv_backward_weights", "diff_bias", "5"}));
  EXPECT_TRUE(throws(
      [&] {
        fc::conv_backward_weights(src.view(), diff_dst.view(), wrong_weight.view(), nullptr,
                                  fc::ConvParams(1), engine());
      },
      ErrorKind::invalid_argument, {"conv_backward_weights"}, {"diff_weight", "diff_dst"}));
  EXPECT_TRUE(diff_weight.all_storage_is(fctest::kSentinel));
  EXPECT_TRUE(wrong_weight.all_storage_is(fctest::kSentinel));
}

TEST_P(Errors, UnfoldFoldArguments) {
  Tensor src(f32, {1, 2, 5, 5}), columns(f32, {1, 8, 16});
  columns.fill_storage(fctest::kSentinel);
  const std::int64_t kernel[] = {2, 2}, kernel3[] = {2, 2, 2}, kernel0[] = {0, 2};
  auto unfold = [&](std::span<const std::int64_t> k, const fc::ConvParams& params,
                    const fc::TensorView& dst) {
    return [&, k, params] { fc::unfold(src.view(), dst, k, params, engine()); };
  };
  EXPECT_NO_THROW(unfold(kernel, fc::ConvParams(2), columns.view())());
  columns.fill_storage(fctest::kSentinel);
  EXPECT_TRUE(throws(unfold(kernel, fc::ConvParams(2).groups(2), columns.view()),
                     ErrorKind::invalid_argument, {"unfold", "groups"}));
  EXPECT_TRUE(throws(unfold(kernel, fc::ConvParams(2).output_padding({1}), columns.view()),
                     ErrorKind::invalid_argument, {"unfold"},
                     {"output_padding", "output padding"}));
  EXPECT_TRUE(throws(unfold(kernel3, fc::ConvParams(2), columns.view()),
                     ErrorKind::invalid_argument, {"unfold", "kernel"}));
  EXPECT_TRUE(throws(unfold(kernel0, fc::ConvParams(2), columns.view()),
                     ErrorKind::invalid_argument, {"unfold", "kernel", "0"}));
  Tensor wrong_columns(f32, {1, 8, 15});
  wrong_columns.fill_storage(fctest::kSentinel);
  EXPECT_TRUE(throws(unfold(kernel, fc::ConvParams(2), wrong_columns.view()),
                     ErrorKind::invalid_argument, {"unfold", "dst"}));
  EXPECT_TRUE(wrong_columns.all_storage_is(fctest::kSentinel));
  EXPECT_TRUE(columns.all_storage_is(fctest::kSentinel));
  // fold: rows must be C * prod(kernel), columns the number of windows of dst.
  Tensor image(f32, {1, 2, 5, 5}), rows9(f32, {1, 9, 16}), image6(f32, {1, 2, 6, 5});
  image.fill_storage(fctest::kSentinel);
  image6.fill_storage(fctest::kSentinel);
  EXPECT_TRUE(
      throws([&] { fc::fold(rows9.view(), image.view(), kernel, fc::ConvParams(2), engine()); },
             ErrorKind::invalid_argument, {"fold", "src"}));
  EXPECT_TRUE(
      throws([&] { fc::fold(columns.view(), image6.view(), kernel, fc::ConvParams(2), engine()); },
             ErrorKind::invalid_argument, {"fold"}));
  EXPECT_TRUE(image.all_storage_is(fctest::kSentinel));
  EXPECT_TRUE(image6.all_storage_is(fctest::kSentinel));
}

INSTANTIATE_TEST_SUITE_P(AllEngines, Errors, ::testing::ValuesIn(fc::kAllEngines),
                         [](const ::testing::TestParamInfo<fc::Engine>& info) {
                           return std::string(info.param == fc::Engine::automatic
                                                  ? "automatic"
                                                  : fc::engine_name(info.param));
                         });

TEST(ErrorsNoEngine, Windows) {
  Tensor src(f32, {1, 1, 4, 4});
  const Shape one = {1, 1};
  EXPECT_TRUE(throws(
      [&] {
        fc::windows(src.view(), Shape{5, 1}, one, one);
      },
      ErrorKind::invalid_argument, {"windows", "5"}));
  EXPECT_TRUE(throws(
      [&] {
        fc::windows(src.view(), Shape{2, 2}, Shape{0, 1}, one);
      },
      ErrorKind::invalid_argument, {"windows", "stride", "0"}));
  EXPECT_TRUE(throws(
      [&] {
        fc::windows(src.view(), Shape{2, 2}, one, Shape{1, -1});
      },
      ErrorKind::invalid_argument, {"windows", "dilation", "-1"}));
  EXPECT_TRUE(throws(
      [&] {
        fc::windows(src.view(), Shape{2, 2, 2}, one, one);
      },
      ErrorKind::invalid_argument, {"windows"}));
  // Dilation makes the window too large: extent 2 * (3 - 1) + 1 = 5 > 4.
  EXPECT_TRUE(throws(
      [&] {
        fc::windows(src.view(), Shape{3, 1}, one, Shape{2, 1});
      },
      ErrorKind::invalid_argument, {"windows"}));
}

TEST(ErrorsNoEngine, ParamsListLengths) {
  EXPECT_TRUE(throws(
      [] {
        fc::ConvParams(2).stride({1, 2, 3});
      },
      ErrorKind::invalid_argument, {"stride", "3"}));
  EXPECT_TRUE(throws(
      [] {
        fc::ConvParams(3).dilation({1, 2});
      },
      ErrorKind::invalid_argument, {"dilation", "2"}));
  EXPECT_TRUE(throws(
      [] {
        fc::ConvParams(1).padding({1, 1});
      },
      ErrorKind::invalid_argument, {"pad"}));
  EXPECT_TRUE(throws(
      [] {
        fc::ConvParams(2).padding({1}, {1, 2, 3});
      },
      ErrorKind::invalid_argument, {"pad", "3"}));
  EXPECT_TRUE(throws(
      [] {
        fc::ConvParams(2).output_padding({0, 0, 0});
      },
      ErrorKind::invalid_argument, {"3"}, {"output_padding", "output padding"}));
  const std::vector<std::int64_t> empty, four = {1, 1, 1, 1};
  EXPECT_TRUE(throws([&] { fc::ConvParams(2).set_stride(empty); }, ErrorKind::invalid_argument,
                     {"stride", "0"}));
  EXPECT_TRUE(throws([&] { fc::ConvParams(3).set_dilation(four); }, ErrorKind::invalid_argument,
                     {"dilation", "4"}));
  EXPECT_TRUE(throws([&] { fc::ConvParams(2).set_padding(four, four); },
                     ErrorKind::invalid_argument, {"pad", "4"}));
  EXPECT_TRUE(throws([&] { fc::ConvParams(2).set_output_padding(four); },
                     ErrorKind::invalid_argument, {"4"}, {"output_padding", "output padding"}));
  EXPECT_TRUE(throws([] { fc::ConvParams(0); }, ErrorKind::invalid_argument, {"0"}));
  EXPECT_TRUE(throws([] { fc::ConvParams(4); }, ErrorKind::invalid_argument, {"4"}));
  const std::int64_t in3[] = {5, 5, 5}, k2[] = {3, 3};
  EXPECT_TRUE(
      throws([&] { fc::ConvParams(2).same_padding(in3, k2); }, ErrorKind::invalid_argument, {}));
}

TEST(ErrorsNoEngine, ShapeFunctions) {
  EXPECT_TRUE(
      throws([] { fc::conv_output_size(3, 5, 1, 1, 0, 0); }, ErrorKind::invalid_argument, {"5"}));
  EXPECT_TRUE(throws([] { fc::conv_output_size(8, 3, 0, 1, 0, 0); }, ErrorKind::invalid_argument,
                     {"stride", "0"}));
  EXPECT_TRUE(throws([] { fc::conv_output_size(8, 3, 1, 0, 0, 0); }, ErrorKind::invalid_argument,
                     {"dilation", "0"}));
  EXPECT_TRUE(
      throws([] { fc::conv_output_size(8, 3, 1, 1, -1, 0); }, ErrorKind::invalid_argument, {"-1"}));
  // Transposed: (1 - 1) * 1 - 1 - 1 + 1 + 0 = -1 < 1.
  EXPECT_TRUE(throws([] { fc::conv_transpose_output_size(1, 1, 1, 1, 1, 1, 0); },
                     ErrorKind::invalid_argument, {}));
  EXPECT_TRUE(throws(
      [] {
        fc::conv_output_shape(Shape{1, 3, 8, 8}, Shape{4, 3, 3}, fc::ConvParams(2));
      },
      ErrorKind::invalid_argument, {"weight"}));
  EXPECT_TRUE(throws(
      [] {
        fc::conv_output_shape(Shape{1, 3, 8, 8}, Shape{4, 2, 3, 3}, fc::ConvParams(2));
      },
      ErrorKind::invalid_argument, {"2"}));
  const std::int64_t kernel[] = {9, 9};
  EXPECT_TRUE(throws(
      [&] {
        fc::unfold_output_shape(Shape{1, 3, 8, 8}, kernel, fc::ConvParams(2));
      },
      ErrorKind::invalid_argument, {"9"}));
}

TEST(ErrorsNoEngine, EngineNamesAndThreads) {
  EXPECT_TRUE(throws([] { fc::parse_engine("bogus"); }, ErrorKind::invalid_argument, {"bogus"}));
  EXPECT_TRUE(throws([] { fc::parse_engine(""); }, ErrorKind::invalid_argument, {}));
  const int before = fc::get_num_threads();
  EXPECT_TRUE(throws([] { fc::set_num_threads(0); }, ErrorKind::invalid_argument, {"0"}));
  EXPECT_TRUE(throws([] { fc::set_num_threads(-4); }, ErrorKind::invalid_argument, {"-4"}));
  EXPECT_EQ(fc::get_num_threads(), before);
}

}  // namespace
