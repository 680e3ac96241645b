// Hand-checked results: a small 2-D convolution with bias, the unfold of arange, 'same'
// padding (ONNX SAME_UPPER / SAME_LOWER), output shapes of well-known PyTorch layers and
// output_size_for_transposed.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/engines.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using Shape = std::vector<std::int64_t>;

class EveryEngine : public ::testing::TestWithParam<fc::Engine> {};

TEST_P(EveryEngine, Conv3x3Input2x2KernelWithBias) {
  const float src[] = {3, 9, 0, 2, 8, 1, 1, 4, 8};
  const float weight[] = {8, 9, 4, 4};
  const float bias[] = {0.06f};
  float dst[4] = {-1, -1, -1, -1};
  const auto bias_view = fc::make_view(bias, {1});
  fc::conv_forward(fc::make_view(src, {1, 1, 3, 3}), fc::make_view(weight, {1, 1, 2, 2}),
                   &bias_view, fc::make_view(dst, {1, 1, 2, 2}), fc::ConvParams(2), GetParam());
  const float expected[] = {145.06f, 108.06f, 108.06f, 121.06f};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(dst[i], expected[i], 1e-4) << "element " << i;
}

TEST_P(EveryEngine, Conv3x3Input2x2KernelWithBiasFloat64AndPlan) {
  const double src[] = {3, 9, 0, 2, 8, 1, 1, 4, 8};
  const double weight[] = {8, 9, 4, 4};
  const double bias[] = {0.06};
  double dst[4] = {-1, -1, -1, -1};
  fc::ConvArgs args;
  args.src = fc::make_view(src, {1, 1, 3, 3});
  args.weight = fc::make_view(weight, {1, 1, 2, 2});
  args.bias = fc::make_view(bias, {1});
  args.dst = fc::make_view(dst, {1, 1, 2, 2});
  const fc::ConvPlan plan(fc::ConvKind::forward, args, fc::ConvParams(2), GetParam());
  plan.run(args);
  const double expected[] = {145.06, 108.06, 108.06, 121.06};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(dst[i], expected[i], 1e-12) << "element " << i;
}

TEST_P(EveryEngine, UnfoldArange1x3x4x4With2x2Kernel) {
  std::vector<float> src(48);
  for (int i = 0; i < 48; ++i) src[std::size_t(i)] = float(i + 1);
  std::vector<float> dst(12 * 9, -1.0f);
  const std::int64_t kernel[] = {2, 2};
  EXPECT_EQ(fc::unfold_output_shape(Shape{1, 3, 4, 4}, kernel, fc::ConvParams(2)),
            (Shape{1, 12, 9}));
  fc::unfold(fc::make_view(src.data(), {1, 3, 4, 4}), fc::make_view(dst.data(), {1, 12, 9}), kernel,
             fc::ConvParams(2), GetParam());
  const float first_row[] = {1, 2, 3, 5, 6, 7, 9, 10, 11};
  for (int j = 0; j < 9; ++j) EXPECT_EQ(dst[std::size_t(j)], first_row[j]) << "column " << j;
  // The whole matrix from the definition: row (c, ki, kj), column (oi, oj).
  for (int c = 0; c < 3; ++c)
    for (int ki = 0; ki < 2; ++ki)
      for (int kj = 0; kj < 2; ++kj)
        for (int oi = 0; oi < 3; ++oi)
          for (int oj = 0; oj < 3; ++oj) {
            const int row = c * 4 + ki * 2 + kj, column = oi * 3 + oj;
            const float expected = float(c * 16 + (oi + ki) * 4 + (oj + kj) + 1);
            EXPECT_EQ(dst[std::size_t(row * 9 + column)], expected)
                << "row " << row << " column " << column;
          }
}

TEST_P(EveryEngine, TransposedConvScattersKernel) {
  // 1-D, stride 2: each input value scatters a scaled copy of the kernel.
  const double src[] = {1, 10};
  const double weight[] = {1, 2, 3};
  double dst[5] = {};
  fc::conv_transpose_forward(fc::make_view(src, {1, 1, 2}), fc::make_view(weight, {1, 1, 3}),
                             nullptr, fc::make_view(dst, {1, 1, 5}), fc::ConvParams(1).stride({2}),
                             GetParam());
  const double expected[] = {1, 2, 3 + 10, 20, 30};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(dst[i], expected[i]) << "element " << i;
}

TEST_P(EveryEngine, BackwardWeightsAndBiasByHand) {
  // 1-D: x = [1 2 3 4], dy = [1 -1 2] (kernel 2): dw[k] = sum_j x[j+k] dy[j], db = sum dy.
  const double src[] = {1, 2, 3, 4};
  const double diff_dst[] = {1, -1, 2};
  double diff_weight[2] = {};
  double diff_bias[1] = {};
  const auto bias_view = fc::make_view(diff_bias, {1});
  fc::conv_backward_weights(fc::make_view(src, {1, 1, 4}), fc::make_view(diff_dst, {1, 1, 3}),
                            fc::make_view(diff_weight, {1, 1, 2}), &bias_view, fc::ConvParams(1),
                            GetParam());
  EXPECT_EQ(diff_weight[0], 1 * 1 - 2 + 3 * 2);
  EXPECT_EQ(diff_weight[1], 2 * 1 - 3 + 4 * 2);
  EXPECT_EQ(diff_bias[0], 2);
}

INSTANTIATE_TEST_SUITE_P(AllEngines, EveryEngine, ::testing::ValuesIn(fctest::kGeneralEngines),
                         [](const ::testing::TestParamInfo<fc::Engine>& info) {
                           return std::string(info.param == fc::Engine::automatic
                                                  ? "automatic"
                                                  : fc::engine_name(info.param));
                         });

TEST(SamePadding, UpperPutsOddExtraAtTheEnd) {
  // ONNX: out = ceil(in / stride); total = max((out - 1) * stride + extent - in, 0).
  const std::int64_t in[] = {224, 10}, kernel[] = {7, 3};
  auto params = fc::ConvParams(2).stride({2});
  params.same_padding(in, kernel, fc::SamePadding::upper);
  EXPECT_EQ(params.pad_begin[0], 2);  // total 5
  EXPECT_EQ(params.pad_end[0], 3);
  EXPECT_EQ(params.pad_begin[1], 0);  // total 1
  EXPECT_EQ(params.pad_end[1], 1);
  EXPECT_EQ(fc::conv_output_size(224, 7, 2, 1, params.pad_begin[0], params.pad_end[0]), 112);
  EXPECT_EQ(fc::conv_output_size(10, 3, 2, 1, params.pad_begin[1], params.pad_end[1]), 5);
}

TEST(SamePadding, LowerPutsOddExtraAtTheBeginning) {
  const std::int64_t in[] = {224, 10}, kernel[] = {7, 3};
  auto params = fc::ConvParams(2).stride({2});
  params.same_padding(in, kernel, fc::SamePadding::lower);
  EXPECT_EQ(params.pad_begin[0], 3);
  EXPECT_EQ(params.pad_end[0], 2);
  EXPECT_EQ(params.pad_begin[1], 1);
  EXPECT_EQ(params.pad_end[1], 0);
}

TEST(SamePadding, StrideOneKeepsSizeAndEvenKernel) {
  const std::int64_t in[] = {5}, kernel[] = {4};
  auto upper = fc::ConvParams(1);
  upper.same_padding(in, kernel);  // default: upper
  EXPECT_EQ(upper.pad_begin[0], 1);
  EXPECT_EQ(upper.pad_end[0], 2);
  auto lower = fc::ConvParams(1);
  lower.same_padding(in, kernel, fc::SamePadding::lower);
  EXPECT_EQ(lower.pad_begin[0], 2);
  EXPECT_EQ(lower.pad_end[0], 1);
}

TEST(SamePadding, UsesDilationAndNeedsNoPaddingWhenStrideCovers) {
  const std::int64_t in[] = {7, 8}, kernel[] = {3, 1};
  auto params = fc::ConvParams(2).dilation({2, 1});
  params.same_padding(in, kernel);
  EXPECT_EQ(params.pad_begin[0], 2);  // extent 5, total 4
  EXPECT_EQ(params.pad_end[0], 2);
  EXPECT_EQ(params.pad_begin[1], 0);
  EXPECT_EQ(params.pad_end[1], 0);
  // stride 4 > kernel 2 on 8: out 2, total = max(4 + 2 - 8, 0) = 0.
  const std::int64_t in2[] = {8}, kernel2[] = {2};
  auto strided = fc::ConvParams(1).stride({4});
  strided.same_padding(in2, kernel2);
  EXPECT_EQ(strided.pad_begin[0], 0);
  EXPECT_EQ(strided.pad_end[0], 0);
}

TEST(SamePadding, ValidPaddingClearsPads) {
  auto params = fc::ConvParams(2).padding({1, 2}, {3, 4});
  params.valid_padding();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(params.pad_begin[i], 0);
    EXPECT_EQ(params.pad_end[i], 0);
  }
}

TEST(KnownShapes, ResNetConv1) {
  const auto params = fc::ConvParams(2).stride({2}).padding({3});
  EXPECT_EQ(fc::conv_output_shape(Shape{1, 3, 224, 224}, Shape{64, 3, 7, 7}, params),
            (Shape{1, 64, 112, 112}));
  EXPECT_EQ(fc::conv_output_size(224, 7, 2, 1, 3, 3), 112);
}

TEST(KnownShapes, ResNetDownsampleAndPointwise) {
  EXPECT_EQ(fc::conv_output_shape(Shape{8, 64, 56, 56}, Shape{128, 64, 3, 3},
                                  fc::ConvParams(2).stride({2}).padding({1})),
            (Shape{8, 128, 28, 28}));
  EXPECT_EQ(fc::conv_output_shape(Shape{8, 64, 56, 56}, Shape{128, 64, 1, 1},
                                  fc::ConvParams(2).stride({2})),
            (Shape{8, 128, 28, 28}));
}

TEST(KnownShapes, TorchDocsConv1dConv2dConv3d) {
  // torch.nn.Conv1d(16, 33, 3, stride=2) on (20, 16, 50).
  EXPECT_EQ(
      fc::conv_output_shape(Shape{20, 16, 50}, Shape{33, 16, 3}, fc::ConvParams(1).stride({2})),
      (Shape{20, 33, 24}));
  // Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2), dilation=(3, 1)) on (20, 16, 50, 100).
  EXPECT_EQ(
      fc::conv_output_shape(Shape{20, 16, 50, 100}, Shape{33, 16, 3, 5},
                            fc::ConvParams(2).stride({2, 1}).padding({4, 2}).dilation({3, 1})),
      (Shape{20, 33, 26, 100}));
  // Conv3d(16, 33, (3, 5, 2), stride=(2, 1, 1), padding=(4, 2, 0)) on (20, 16, 10, 50, 100).
  EXPECT_EQ(fc::conv_output_shape(Shape{20, 16, 10, 50, 100}, Shape{33, 16, 3, 5, 2},
                                  fc::ConvParams(3).stride({2, 1, 1}).padding({4, 2, 0})),
            (Shape{20, 33, 8, 50, 99}));
  // Depthwise with multiplier 2 (MobileNet-style): groups = 32.
  EXPECT_EQ(fc::conv_output_shape(Shape{1, 32, 112, 112}, Shape{64, 1, 3, 3},
                                  fc::ConvParams(2).stride({2}).padding({1}).groups(32)),
            (Shape{1, 64, 56, 56}));
}

TEST(KnownShapes, TransposedConvolutions) {
  // ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2)) on (20, 16, 50, 100).
  EXPECT_EQ(fc::conv_transpose_output_shape(Shape{20, 16, 50, 100}, Shape{16, 33, 3, 5},
                                            fc::ConvParams(2).stride({2, 1}).padding({4, 2})),
            (Shape{20, 33, 93, 100}));
  // DCGAN: ConvTranspose2d(100, 512, 4, 1, 0) on 1x1, then (512, 256, 4, 2, 1) on 4x4.
  EXPECT_EQ(fc::conv_transpose_output_shape(Shape{64, 100, 1, 1}, Shape{100, 512, 4, 4},
                                            fc::ConvParams(2)),
            (Shape{64, 512, 4, 4}));
  EXPECT_EQ(fc::conv_transpose_output_shape(Shape{64, 512, 4, 4}, Shape{512, 256, 4, 4},
                                            fc::ConvParams(2).stride({2}).padding({1})),
            (Shape{64, 256, 8, 8}));
  // ConvTranspose2d(16, 16, 3, stride=2, padding=1, output_padding=1): 6 -> 12; groups 4.
  EXPECT_EQ(fc::conv_transpose_output_shape(
                Shape{1, 16, 6, 6}, Shape{16, 4, 3, 3},
                fc::ConvParams(2).stride({2}).padding({1}).output_padding({1}).groups(4)),
            (Shape{1, 16, 12, 12}));
  EXPECT_EQ(fc::conv_transpose_output_size(6, 3, 2, 1, 1, 1, 1), 12);
  EXPECT_EQ(fc::conv_transpose_output_size(6, 3, 2, 1, 1, 1, 0), 11);
  // output_padding < dilation is also valid: stride 1, dilation 2, output_padding 1.
  EXPECT_EQ(fc::conv_transpose_output_size(5, 3, 1, 2, 0, 0, 1), 10);
}

TEST(KnownShapes, UnfoldShapes) {
  // torch.nn.Unfold(kernel_size=(2, 3)) on (2, 5, 3, 4) -> (2, 30, 4).
  const std::int64_t kernel[] = {2, 3};
  EXPECT_EQ(fc::unfold_output_shape(Shape{2, 5, 3, 4}, kernel, fc::ConvParams(2)),
            (Shape{2, 30, 4}));
  const std::int64_t kernel3[] = {3, 3, 3};
  EXPECT_EQ(fc::unfold_output_shape(Shape{1, 2, 5, 5, 5}, kernel3,
                                    fc::ConvParams(3).stride({2}).padding({1})),
            (Shape{1, 54, 27}));
}

TEST(OutputSizeForTransposed, ChoosesOutputPadding) {
  // torch docs: downsample 12 -> 6 with k3 s2 p1, upsample with output_size=12 -> op 1.
  const std::int64_t in[] = {6, 6}, kernel[] = {3, 3};
  const std::int64_t want12[] = {12, 12}, want11[] = {11, 12};
  auto params = fc::ConvParams(2).stride({2}).padding({1});
  params.output_size_for_transposed(in, kernel, want12);
  EXPECT_EQ(params.output_paddings[0], 1);
  EXPECT_EQ(params.output_paddings[1], 1);
  params.output_size_for_transposed(in, kernel, want11);
  EXPECT_EQ(params.output_paddings[0], 0);
  EXPECT_EQ(params.output_paddings[1], 1);
  EXPECT_EQ(fc::conv_transpose_output_shape(Shape{1, 4, 6, 6}, Shape{4, 4, 3, 3}, params),
            (Shape{1, 4, 11, 12}));
}

TEST(OutputSizeForTransposed, UsesDilationRange) {
  // stride 1, dilation 3: output_padding may be 0, 1 or 2.
  const std::int64_t in[] = {4}, kernel[] = {2}, want[] = {9};
  auto params = fc::ConvParams(1).dilation({3});
  params.output_size_for_transposed(in, kernel, want);  // base = 3 + 4 = 7
  EXPECT_EQ(params.output_paddings[0], 2);
}

TEST(OutputSizeForTransposed, ThrowsWhenUnreachable) {
  const std::int64_t in[] = {6}, kernel[] = {3};
  const std::int64_t too_big[] = {13}, too_small[] = {10};
  auto params = fc::ConvParams(1).stride({2}).padding({1});
  EXPECT_THROW(params.output_size_for_transposed(in, kernel, too_big), fc::Error);
  EXPECT_THROW(params.output_size_for_transposed(in, kernel, too_small), fc::Error);
}

}  // namespace
