// Outputs must address each element once. The check is exact: an output whose strides are not
// sorted but never reach one address twice (e.g. a 3x3 plane with strides (2, 3)) is accepted and
// written correctly by every engine; one that truly reaches an address twice (equal offsets from
// two indices, a zero stride on an axis longer than 1) is refused, the message naming two indices
// that share an address. Size-1 axes take any stride. Outputs and inputs are compared by byte
// ranges, conservatively: interleaved but disjoint operands are refused (documented).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/engines.hpp"
#include "support/expect_error.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fc::ErrorKind;
using fctest::Tensor;
using fctest::throws;
using Shape = std::vector<std::int64_t>;
constexpr auto f32 = fc::DType::float32;

// A float32 view with explicit strides over its own buffer (sentinel-filled), data pointing at
// index 0 (inside the buffer when strides are negative).
struct StridedOutput {
  Shape shape, strides;
  std::vector<float> storage;
  std::int64_t origin = 0;  // storage index of element 0
  StridedOutput(Shape shape_, Shape strides_) : shape(std::move(shape_)), strides(std::move(strides_)) {
    std::int64_t low = 0, high = 0;
    for (std::size_t a = 0; a < shape.size(); ++a) {
      const std::int64_t reach = (shape[a] - 1) * strides[a];
      (reach < 0 ? low : high) += reach;
    }
    origin = -low;
    storage.assign(std::size_t(high - low + 1), float(fctest::kSentinel));
  }
  fc::TensorView view() { return fc::TensorView::strided(storage.data() + origin, f32, shape, strides); }
  float at(const std::vector<std::int64_t>& index) const {
    std::int64_t offset = origin;
    for (std::size_t a = 0; a < shape.size(); ++a) offset += index[a] * strides[a];
    return storage[std::size_t(offset)];
  }
  bool untouched() const {
    for (float value : storage)
      if (value != float(fctest::kSentinel)) return false;
    return true;
  }
};

// Every logical element of `output` equals the same element of the contiguous `expected`.
::testing::AssertionResult same_values(const StridedOutput& output, const Tensor& expected) {
  std::vector<std::int64_t> index(output.shape.size());
  for (std::int64_t i = 0; i < expected.numel(); ++i) {
    fctest::unravel(i, output.shape, index);
    if (double(output.at(index)) != expected.get(index))
      return ::testing::AssertionFailure() << "element " << fctest::shape_string(index) << ": "
                                           << output.at(index) << " vs " << expected.get(index);
  }
  return ::testing::AssertionSuccess();
}

// Legal layouts whose sorted strides do not each pass the span of the smaller axes.
struct Layout {
  Shape shape, strides;
};
const Layout kLegal[] = {
    {{1, 1, 3, 3}, {9, 9, 2, 3}},    // offsets 0,2,3,4,5,6,7,8,10: all distinct
    {{1, 1, 3, 3}, {0, 0, -2, 3}},   // negative stride, zero strides on size-1 axes
    {{1, 1, 4, 4}, {16, 16, 3, 4}},  // 3x + 4y = 0 needs |x| >= 4
    {{1, 2, 3, 3}, {18, 9, 2, 3}},   // the channel stride lands between the plane's offsets
    {{1, 1, 3, 3}, {9, 9, 3, -2}},
};
const Layout kOverlapping[] = {
    {{1, 1, 3, 3}, {9, 9, 1, 2}},   // [0,0,2,0] and [0,0,0,1] both at offset 2
    {{1, 1, 3, 3}, {9, 9, -1, 2}},  // [0,0,2,1] and [0,0,0,0]
    {{1, 1, 3, 3}, {9, 9, 0, 1}},   // zero stride on an axis of 3
    {{1, 2, 2, 2}, {8, 3, 2, 1}},   // 3 = 2 + 1
    {{1, 1, 3, 3}, {9, 9, 3, 3}},   // equal strides
};

class OutputOverlap : public ::testing::TestWithParam<fc::Engine> {
 protected:
  fc::Engine engine() const { return GetParam(); }
};

// Forward: src (1,C,5,5) * weight (K=C... ) with padding 1, giving dst of layout.shape.
TEST_P(OutputOverlap, LegalUnsortedStridesAreAcceptedAndWritten) {
  fctest::Rng rng(17);
  for (const Layout& layout : kLegal) {
    const std::int64_t channels = layout.shape[1], size = layout.shape[2];
    Tensor src(f32, {1, 2, size, size}), weight(f32, {channels, 2, 3, 3});
    src.fill_int(rng, -3, 3);
    weight.fill_int(rng, -3, 3);
    const auto params = fc::ConvParams(2).padding({1});
    Tensor expected(f32, layout.shape);
    fc::conv_forward(src.view(), weight.view(), nullptr, expected.view(), params, fc::Engine::reference);
    StridedOutput dst(layout.shape, layout.strides);
    ASSERT_NO_THROW(fc::conv_forward(src.view(), weight.view(), nullptr, dst.view(), params, engine()))
        << fctest::shape_string(layout.strides);
    EXPECT_TRUE(same_values(dst, expected)) << fctest::shape_string(layout.strides);
  }
}

TEST_P(OutputOverlap, LegalUnsortedStridesInTheOtherKinds) {
  // backward_data writes diff_src (1,1,3,3); backward_weights writes diff_weight (1,1,3,3);
  // fold writes an image (1,1,3,3); transposed writes dst (1,1,3,3).
  fctest::Rng rng(23);
  const auto params = fc::ConvParams(2);
  Tensor diff_dst(f32, {1, 1, 1, 1}), weight(f32, {1, 1, 3, 3}), src(f32, {1, 1, 3, 3});
  diff_dst.fill_int(rng, -3, 3);
  weight.fill_int(rng, -3, 3);
  src.fill_int(rng, -3, 3);
  for (const Layout& layout : kLegal) {
    if (layout.shape != Shape{1, 1, 3, 3}) continue;
    Tensor expected(f32, {1, 1, 3, 3});
    StridedOutput out(layout.shape, layout.strides);
    fc::conv_backward_data(diff_dst.view(), weight.view(), expected.view(), params, fc::Engine::reference);
    ASSERT_NO_THROW(fc::conv_backward_data(diff_dst.view(), weight.view(), out.view(), params, engine()));
    EXPECT_TRUE(same_values(out, expected)) << "backward_data " << fctest::shape_string(layout.strides);

    StridedOutput grad(layout.shape, layout.strides);
    fc::conv_backward_weights(src.view(), diff_dst.view(), expected.view(), nullptr, params,
                              fc::Engine::reference);
    ASSERT_NO_THROW(
        fc::conv_backward_weights(src.view(), diff_dst.view(), grad.view(), nullptr, params, engine()));
    EXPECT_TRUE(same_values(grad, expected)) << "backward_weights " << fctest::shape_string(layout.strides);

    StridedOutput transposed(layout.shape, layout.strides);
    fc::conv_transpose_forward(diff_dst.view(), weight.view(), nullptr, expected.view(), params,
                               fc::Engine::reference);
    ASSERT_NO_THROW(fc::conv_transpose_forward(diff_dst.view(), weight.view(), nullptr,
                                               transposed.view(), params, engine()));
    EXPECT_TRUE(same_values(transposed, expected)) << "transposed " << fctest::shape_string(layout.strides);

    // fold of 2x2 windows over a 3x3 image: columns (1, 4, 4).
    Tensor columns(f32, {1, 4, 4});
    columns.fill_int(rng, -3, 3);
    const Shape kernel = {2, 2};
    StridedOutput image(layout.shape, layout.strides);
    fc::fold(columns.view(), expected.view(), kernel, params, fc::Engine::reference);
    ASSERT_NO_THROW(fc::fold(columns.view(), image.view(), kernel, params, engine()));
    EXPECT_TRUE(same_values(image, expected)) << "fold " << fctest::shape_string(layout.strides);
  }
}

TEST_P(OutputOverlap, OverlappingOutputsAreRefusedWithTwoIndices) {
  for (const Layout& layout : kOverlapping) {
    const std::int64_t channels = layout.shape[1], size = layout.shape[2];
    Tensor src(f32, {1, 2, size, size}), weight(f32, {channels, 2, 3, 3});
    StridedOutput dst(layout.shape, layout.strides);
    EXPECT_TRUE(throws(
        [&] {
          fc::conv_forward(src.view(), weight.view(), nullptr, dst.view(),
                           fc::ConvParams(2).padding({1}), engine());
        },
        ErrorKind::invalid_argument, {"conv_forward", "dst", "overlaps itself", "share"}))
        << fctest::shape_string(layout.strides);
    EXPECT_TRUE(dst.untouched());
  }
  // The indices named are a real pair: [0, 0, 2, 0] and [0, 0, 0, 1] for strides (1, 2).
  Tensor src(f32, {1, 2, 3, 3}), weight(f32, {1, 2, 3, 3});
  StridedOutput dst({1, 1, 3, 3}, {9, 9, 1, 2});
  EXPECT_TRUE(throws(
      [&] {
        fc::conv_forward(src.view(), weight.view(), nullptr, dst.view(),
                         fc::ConvParams(2).padding({1}), engine());
      },
      ErrorKind::invalid_argument, {"[0, 0, 2, 0]", "[0, 0, 0, 1]"}));
  // unfold's dst (rank 3) with a zero stride on its column axis.
  Tensor image(f32, {1, 1, 3, 3});
  StridedOutput columns({1, 4, 4}, {16, 4, 0});
  EXPECT_TRUE(throws(
      [&] { fc::unfold(image.view(), columns.view(), Shape{2, 2}, fc::ConvParams(2), engine()); },
      ErrorKind::invalid_argument, {"unfold", "dst", "overlaps itself"}));
  EXPECT_TRUE(columns.untouched());
}

TEST_P(OutputOverlap, InterleavedInputAndOutputAreRefusedConservatively) {
  // src at the even positions of one buffer, dst at the odd ones: disjoint elements, but the
  // byte ranges intersect, which is what the check compares.
  std::vector<float> shared(2 * 9 + 1, 1.0f);
  const auto src = fc::TensorView::strided(shared.data(), f32, Shape{1, 1, 3, 3}, Shape{18, 18, 6, 2});
  const auto dst = fc::TensorView::strided(shared.data() + 1, f32, Shape{1, 1, 3, 3}, Shape{18, 18, 6, 2});
  Tensor weight(f32, {1, 1, 3, 3});
  EXPECT_TRUE(throws(
      [&] {
        fc::conv_forward(src, weight.view(), nullptr, dst, fc::ConvParams(2).padding({1}), engine());
      },
      ErrorKind::invalid_argument, {"dst", "src", "memory"}, {"overlap", "alias"}));
}

INSTANTIATE_TEST_SUITE_P(GeneralEngines, OutputOverlap, ::testing::ValuesIn(fctest::kGeneralEngines),
                         [](const ::testing::TestParamInfo<fc::Engine>& info) {
                           return std::string(info.param == fc::Engine::automatic
                                                  ? "automatic"
                                                  : fc::engine_name(info.param));
                         });

}  // namespace
