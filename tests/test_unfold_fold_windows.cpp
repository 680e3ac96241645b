// unfold / fold identities and the zero-copy windows() view.
//   fold(unfold(x)) == x * count, count(p) = number of (window, kernel tap) pairs reading p,
//   counted here with direct loops; <unfold(x), y> == <x, fold(y)> (fold is the adjoint).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/problem.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fctest::Op;
using fctest::Problem;
using fctest::Tensor;
using Shape = std::vector<std::int64_t>;

// Number of (window position, kernel tap) pairs that read each input position, by brute force.
std::vector<double> window_counts(const Problem& p) {
  const int d = p.spatial_dims;
  std::vector<double> count(std::size_t(fctest::product(p.input_spatial)), 0.0);
  const std::int64_t windows = fctest::product(p.output_spatial);
  const std::int64_t taps = fctest::product(p.kernel);
  std::vector<std::int64_t> o(static_cast<std::size_t>(d)), k(static_cast<std::size_t>(d));
  for (std::int64_t w = 0; w < windows; ++w) {
    fctest::unravel(w, p.output_spatial, o);
    for (std::int64_t t = 0; t < taps; ++t) {
      fctest::unravel(t, p.kernel, k);
      std::int64_t linear = 0;
      bool inside = true;
      for (int a = 0; a < d; ++a) {
        const std::int64_t x =
            o[a] * p.params.strides[a] - p.params.pad_begin[a] + k[a] * p.params.dilations[a];
        inside = inside && x >= 0 && x < p.input_spatial[a];
        linear = linear * p.input_spatial[a] + x;
      }
      if (inside) count[std::size_t(linear)] += 1.0;
    }
  }
  return count;
}

class UnfoldFold : public ::testing::TestWithParam<fc::Engine> {};

TEST_P(UnfoldFold, FoldOfUnfoldMultipliesByWindowCount) {
  const fc::Engine engine = GetParam();
  bool seen_dims[4] = {};
  for (std::uint64_t seed : fctest::test_seeds(80)) {
    const Problem p = fctest::random_problem(Op::unfold, seed);
    seen_dims[p.spatial_dims] = true;
    fctest::Rng rng(seed);
    auto tensors = fctest::allocate(p, fc::DType::float32, true);  // src, columns
    tensors[0].fill_int(rng, -3, 3);
    tensors[1].fill_storage(fctest::kSentinel);
    Tensor image(fc::DType::float32, p.operands[0].shape, fctest::Layout::gapped, &rng);
    image.fill_storage(fctest::kSentinel);
    fc::unfold(tensors[0].view(), tensors[1].view(), p.kernel, p.params, engine);
    fc::fold(tensors[1].view(), image.view(), p.kernel, p.params, engine);
    const auto counts = window_counts(p);
    const auto x = tensors[0].to_dense();
    const auto y = image.to_dense();
    const std::int64_t plane = fctest::product(p.input_spatial);
    std::int64_t bad = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (y[i] != x[i] * counts[i % std::size_t(plane)]) ++bad;
    EXPECT_EQ(bad, 0) << p.describe() << "\n  " << fctest::reproduce_hint(seed);
    EXPECT_EQ(image.touched_gap_count(fctest::kSentinel), 0) << p.describe();
  }
  EXPECT_TRUE(seen_dims[1] && seen_dims[2] && seen_dims[3]);
}

TEST_P(UnfoldFold, FoldIsAdjointOfUnfold) {
  const fc::Engine engine = GetParam();
  for (std::uint64_t seed : fctest::test_seeds(60)) {
    const Problem p = fctest::random_problem(Op::unfold, seed);
    fctest::Rng rng(seed + 99);
    Tensor x(fc::DType::float64, p.operands[0].shape), ux(fc::DType::float64, p.operands[1].shape);
    Tensor y(fc::DType::float64, p.operands[1].shape), fy(fc::DType::float64, p.operands[0].shape);
    x.fill_real(rng, -1, 1);
    y.fill_real(rng, -1, 1);
    fc::unfold(x.view(), ux.view(), p.kernel, p.params, engine);
    fc::fold(y.view(), fy.view(), p.kernel, p.params, engine);
    double lhs = 0, rhs = 0, scale = 0;
    const auto a = ux.to_dense(), b = y.to_dense(), c = x.to_dense(), e = fy.to_dense();
    for (std::size_t i = 0; i < a.size(); ++i) {
      lhs += a[i] * b[i];
      scale += std::fabs(a[i] * b[i]);
    }
    for (std::size_t i = 0; i < c.size(); ++i) rhs += c[i] * e[i];
    EXPECT_LE(std::fabs(lhs - rhs), 1e-10 * std::max(scale, 1e-300) + 1e-300) << p.describe();
  }
}

TEST_P(UnfoldFold, UnfoldWithPaddingHasZerosAndFoldSumsOverlaps) {
  // 1-D: x = [1 2 3], kernel 2, pad 1 each side: windows [0 1] [1 2] [2 3] [3 0].
  const float src[] = {1, 2, 3};
  float columns[8];
  const std::int64_t kernel[] = {2};
  const auto params = fc::ConvParams(1).padding({1});
  fc::unfold(fc::make_view(src, {1, 1, 3}), fc::make_view(columns, {1, 2, 4}), kernel, params,
             GetParam());
  const float expected[] = {0, 1, 2, 3, 1, 2, 3, 0};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(columns[i], expected[i]) << i;
  float image[3] = {-1, -1, -1};
  fc::fold(fc::make_view(columns, {1, 2, 4}), fc::make_view(image, {1, 1, 3}), kernel, params,
           GetParam());
  EXPECT_EQ(image[0], 2);
  EXPECT_EQ(image[1], 4);
  EXPECT_EQ(image[2], 6);
}

INSTANTIATE_TEST_SUITE_P(WindowEngines, UnfoldFold, ::testing::ValuesIn(fc::kWindowEngines),
                         [](const ::testing::TestParamInfo<fc::Engine>& info) {
                           return std::string(info.param == fc::Engine::automatic
                                                  ? "automatic"
                                                  : fc::engine_name(info.param));
                         });

// Engines that unfold and fold do not run on are refused, naming the ones they do, before the
// output is written.
TEST(UnfoldFoldEngines, OthersAreDeclinedWithTheListOfWindowEngines) {
  const float src[] = {1, 2, 3};
  float columns[8] = {5, 5, 5, 5, 5, 5, 5, 5};
  float image[3] = {5, 5, 5};
  const std::int64_t kernel[] = {2};
  const auto params = fc::ConvParams(1).padding({1});
  for (fc::Engine engine : fc::kAllEngines) {
    bool window_engine = false;
    for (fc::Engine taker : fc::kWindowEngines) window_engine = window_engine || taker == engine;
    if (window_engine) continue;
    for (bool is_unfold : {true, false}) {
      try {
        if (is_unfold) {
          fc::unfold(fc::make_view(src, {1, 1, 3}), fc::make_view(columns, {1, 2, 4}), kernel,
                     params, engine);
        } else {
          fc::fold(fc::make_view(columns, {1, 2, 4}), fc::make_view(image, {1, 1, 3}), kernel,
                   params, engine);
        }
        ADD_FAILURE() << fc::engine_name(engine) << " accepted";
      } catch (const fc::Error& error) {
        EXPECT_EQ(error.kind(), fc::ErrorKind::engine_declined);
        const std::string message = error.what();
        EXPECT_NE(message.find(fc::engine_name(engine)), std::string::npos) << message;
        EXPECT_NE(message.find("auto, reference, im2col"), std::string::npos) << message;
      }
    }
  }
  for (float value : columns) EXPECT_EQ(value, 5);
  for (float value : image) EXPECT_EQ(value, 5);
}

// Reads element `index` of a float view through its strides.
double read(const fc::TensorView& view, const std::vector<std::int64_t>& index) {
  std::int64_t offset = 0;
  for (int a = 0; a < view.rank; ++a) offset += index[std::size_t(a)] * view.strides[a];
  return view.dtype == fc::DType::float32 ? double(static_cast<const float*>(view.data)[offset])
                                          : static_cast<const double*>(view.data)[offset];
}

void check_windows(const Tensor& src, const Shape& kernel, const Shape& stride,
                   const Shape& dilation) {
  const int d = int(kernel.size());
  const auto view = fc::windows(src.view(), kernel, stride, dilation);
  ASSERT_EQ(view.rank, 2 + 2 * d);
  EXPECT_EQ(view.dtype, src.dtype());
  EXPECT_EQ(view.data, src.view().data);  // zero-copy: aliases src
  Shape expected_shape = {src.shape()[0], src.shape()[1]};
  for (int a = 0; a < d; ++a) {
    const std::int64_t extent = dilation[a] * (kernel[a] - 1) + 1;
    expected_shape.push_back((src.shape()[std::size_t(2 + a)] - extent) / stride[a] + 1);
  }
  for (int a = 0; a < d; ++a) expected_shape.push_back(kernel[a]);
  for (int a = 0; a < view.rank; ++a) EXPECT_EQ(view.shape[a], expected_shape[std::size_t(a)]);
  std::vector<std::int64_t> index(static_cast<std::size_t>(view.rank));
  std::vector<std::int64_t> src_index(static_cast<std::size_t>(2 + d));
  const std::int64_t total = fctest::product(expected_shape);
  for (std::int64_t i = 0; i < total; ++i) {
    fctest::unravel(i, expected_shape, index);
    src_index[0] = index[0];
    src_index[1] = index[1];
    for (int a = 0; a < d; ++a)
      src_index[std::size_t(2 + a)] =
          index[std::size_t(2 + a)] * stride[a] + index[std::size_t(2 + d + a)] * dilation[a];
    ASSERT_EQ(read(view, index), src.get(src_index)) << "window element " << i;
  }
}

TEST(Windows, TwoDimensionalContiguous) {
  Tensor src(fc::DType::float32, {2, 3, 7, 6});
  for (std::int64_t i = 0; i < src.numel(); ++i) src.set_linear(i, double(i));
  check_windows(src, {3, 2}, {2, 1}, {1, 2});
  check_windows(src, {1, 1}, {3, 4}, {1, 1});  // stride > kernel
}

TEST(Windows, OneAndThreeDimensionalAndStridedSources) {
  fctest::Rng rng(5);
  for (const auto layout :
       {fctest::Layout::contiguous, fctest::Layout::channels_last, fctest::Layout::gapped,
        fctest::Layout::permuted, fctest::Layout::reversed}) {
    Tensor one(fc::DType::float64, {2, 2, 11}, layout, &rng);
    one.fill_real(rng, -1, 1);
    check_windows(one, {3}, {2}, {2});
    Tensor three(fc::DType::float32, {1, 2, 5, 4, 6}, layout, &rng);
    three.fill_int(rng, -9, 9);
    check_windows(three, {2, 3, 2}, {1, 2, 3}, {2, 1, 1});
  }
}

TEST(Windows, WholeInputIsOneWindow) {
  Tensor src(fc::DType::float32, {1, 1, 4, 4});
  src.fill(1.0);
  const auto view = fc::windows(src.view(), Shape{4, 4}, Shape{1, 1}, Shape{1, 1});
  EXPECT_EQ(view.shape[2], 1);
  EXPECT_EQ(view.shape[3], 1);
  EXPECT_EQ(view.shape[4], 4);
  EXPECT_EQ(view.shape[5], 4);
}

}  // namespace
