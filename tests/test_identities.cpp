// Algebraic identities, in float64:
//   adjointness  <conv(x, w), y> == <x, conv_transpose(y, w)> == <x, backward_data(y, w)>
//                                == <w, backward_weights(x, y)>   (relative 1e-10)
//   gradients    backward_data, backward_weights and the bias gradient equal central finite
//                differences of L(x, w, b) = <conv(x, w, b), g>.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/problem.hpp"
#include "support/engines.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fctest::Op;
using fctest::Problem;
using fctest::Tensor;

double dot(const Tensor& a, const Tensor& b) {
  const auto x = a.to_dense(), y = b.to_dense();
  double sum = 0;
  for (std::size_t i = 0; i < x.size(); ++i) sum += x[i] * y[i];
  return sum;
}

std::string engine_label(fc::Engine engine) {
  return engine == fc::Engine::automatic ? "automatic" : fc::engine_name(engine);
}

class Identities : public ::testing::TestWithParam<fc::Engine> {};

TEST_P(Identities, ConvolutionAdjoints) {
  const fc::Engine engine = GetParam();
  const auto f64 = fc::DType::float64;
  for (std::uint64_t seed : fctest::test_seeds(80)) {
    const Problem p = fctest::random_problem(Op::forward, seed);
    fctest::Rng rng(fctest::mix_seed(seed, 77));
    const auto& src_shape = p.operands[0].shape;
    const auto& weight_shape = p.operands[1].shape;
    const auto& dst_shape = p.operands[std::size_t(p.find("dst"))].shape;
    Tensor x(f64, src_shape, fctest::Layout::gapped, &rng);
    Tensor w(f64, weight_shape, fctest::Layout::channels_last, &rng);
    Tensor y(f64, dst_shape, fctest::Layout::permuted, &rng);
    x.fill_real(rng, -1, 1);
    w.fill_real(rng, -1, 1);
    y.fill_real(rng, -1, 1);

    // Transposed convolution of y with the same weight array, back to x's size.
    fc::ConvParams transposed = p.params;
    for (int i = 0; i < p.spatial_dims; ++i) {
      const std::int64_t extent = p.params.dilations[i] * (p.kernel[i] - 1) + 1;
      transposed.output_paddings[i] =
          (p.input_spatial[i] + p.params.pad_begin[i] + p.params.pad_end[i] - extent) %
          p.params.strides[i];
    }
    fc::ConvParams forward = p.params;
    forward.output_paddings = {0, 0, 0};

    Tensor conv_x(f64, dst_shape), transposed_y(f64, src_shape), backward_y(f64, src_shape);
    Tensor weight_grad(f64, weight_shape);
    fc::conv_forward(x.view(), w.view(), nullptr, conv_x.view(), forward, engine);
    fc::conv_transpose_forward(y.view(), w.view(), nullptr, transposed_y.view(), transposed,
                               engine);
    fc::conv_backward_data(y.view(), w.view(), backward_y.view(), forward, engine);
    fc::conv_backward_weights(x.view(), y.view(), weight_grad.view(), nullptr, forward, engine);

    // Scale: <conv(|x|, |w|), |y|> bounds every term of every sum.
    Tensor abs_conv(f64, dst_shape);
    const Tensor abs_x = x.contiguous_copy(f64, true), abs_w = w.contiguous_copy(f64, true),
                 abs_y = y.contiguous_copy(f64, true);
    fc::conv_forward(abs_x.view(), abs_w.view(), nullptr, abs_conv.view(), forward,
                     fc::Engine::reference);
    const double scale = std::max(dot(abs_conv, abs_y), 1e-300);

    const double lhs = dot(conv_x, y);
    EXPECT_LE(std::fabs(lhs - dot(x, transposed_y)), 1e-10 * scale)
        << "conv vs conv_transpose: " << p.describe();
    EXPECT_LE(std::fabs(lhs - dot(x, backward_y)), 1e-10 * scale)
        << "conv vs backward_data: " << p.describe();
    EXPECT_LE(std::fabs(lhs - dot(w, weight_grad)), 1e-10 * scale)
        << "conv vs backward_weights: " << p.describe();
  }
}

struct GradientCase {
  const char* name;
  std::int64_t batch, in_channels, out_channels;
  std::vector<std::int64_t> input, kernel;
  fc::ConvParams params;
};

std::vector<GradientCase> gradient_cases() {
  return {
      {"1d_stride2_dilation2_asympad",
       2,
       3,
       4,
       {9},
       {3},
       fc::ConvParams(1).stride({2}).dilation({2}).padding({1}, {2})},
      {"2d_groups2",
       1,
       4,
       6,
       {5, 6},
       {2, 3},
       fc::ConvParams(2).stride({2, 1}).dilation({1, 2}).padding({0, 1}, {1, 0}).groups(2)},
      {"2d_depthwise_x2", 2, 3, 6, {4, 5}, {3, 3}, fc::ConvParams(2).padding({1}).groups(3)},
      {"2d_stride_gt_kernel", 1, 2, 3, {7, 6}, {2, 1}, fc::ConvParams(2).stride({3, 2})},
      {"3d_asympad",
       1,
       2,
       2,
       {3, 4, 3},
       {2, 2, 2},
       fc::ConvParams(3).stride({1, 2, 1}).padding({1, 0, 0}, {0, 1, 1})},
  };
}

class Gradients : public ::testing::TestWithParam<fc::Engine> {};

TEST_P(Gradients, MatchCentralFiniteDifferences) {
  const fc::Engine engine = GetParam();
  const auto f64 = fc::DType::float64;
  for (const auto& c : gradient_cases()) {
    SCOPED_TRACE(c.name);
    const Problem p = fctest::make_problem(Op::forward, c.batch, c.in_channels, c.out_channels,
                                           c.input, c.kernel, c.params, /*has_bias=*/true);
    fctest::Rng rng(42);
    Tensor x(f64, p.operands[0].shape), w(f64, p.operands[1].shape), b(f64, p.operands[2].shape);
    Tensor g(f64, p.operands[3].shape), y(f64, p.operands[3].shape);
    x.fill_real(rng, -1, 1);
    w.fill_real(rng, -1, 1);
    b.fill_real(rng, -1, 1);
    g.fill_real(rng, -1, 1);

    auto loss = [&] {
      const auto bias = b.view();
      fc::conv_forward(x.view(), w.view(), &bias, y.view(), p.params, fc::Engine::reference);
      return dot(y, g);
    };
    const double h = 1e-3;
    auto finite_difference = [&](Tensor& t, std::int64_t i) {
      const double saved = t.get_linear(i);
      t.set_linear(i, saved + h);
      const double plus = loss();
      t.set_linear(i, saved - h);
      const double minus = loss();
      t.set_linear(i, saved);
      return (plus - minus) / (2 * h);
    };

    Tensor dx(f64, x.shape(), fctest::Layout::channels_last);
    Tensor dw(f64, w.shape()), db(f64, b.shape());
    fc::conv_backward_data(g.view(), w.view(), dx.view(), p.params, engine);
    const auto diff_bias = db.view();
    fc::conv_backward_weights(x.view(), g.view(), dw.view(), &diff_bias, p.params, engine);

    const double tolerance = 1e-7;
    for (std::int64_t i = 0; i < x.numel(); ++i)
      ASSERT_NEAR(dx.get_linear(i), finite_difference(x, i), tolerance)
          << "d/dsrc element " << i << " " << p.describe();
    for (std::int64_t i = 0; i < w.numel(); ++i)
      ASSERT_NEAR(dw.get_linear(i), finite_difference(w, i), tolerance)
          << "d/dweight element " << i << " " << p.describe();
    for (std::int64_t i = 0; i < b.numel(); ++i)
      ASSERT_NEAR(db.get_linear(i), finite_difference(b, i), tolerance)
          << "d/dbias element " << i << " " << p.describe();
  }
}

auto engine_name_generator = [](const ::testing::TestParamInfo<fc::Engine>& info) {
  return engine_label(info.param);
};

INSTANTIATE_TEST_SUITE_P(AllEngines, Identities, ::testing::ValuesIn(fctest::kGeneralEngines),
                         engine_name_generator);
INSTANTIATE_TEST_SUITE_P(AllEngines, Gradients, ::testing::ValuesIn(fctest::kGeneralEngines),
                         engine_name_generator);

}  // namespace
