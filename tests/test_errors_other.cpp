// Errors of the other operations (transposed, backward, unfold / fold, windows), of ConvParams
// setters, shape functions, engine names and threads; see test_errors.cpp for the checks made.
#include <gtest/gtest.h>

#include <cstdint>
#include <span>
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
using fctest::throws;
using fctest::Words;
using Shape = std::vector<std::int64_t>;
constexpr auto f32 = fc::DType::float32;

class OtherErrors : public ::testing::TestWithParam<fc::Engine> {
 protected:
  fc::Engine engine() const { return GetParam(); }
};

TEST_P(OtherErrors, OutputsOverlapInOtherKinds) {
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

TEST_P(OtherErrors, TransposedOutputPaddingOutOfRange) {
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

TEST_P(OtherErrors, BackwardShapes) {
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

TEST_P(OtherErrors, UnfoldFoldArguments) {
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

INSTANTIATE_TEST_SUITE_P(AllEngines, OtherErrors, ::testing::ValuesIn(fctest::kGeneralEngines),
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
