// ConvParams setters, shape functions, TensorView factories, names and ConvPlan introspection.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/engines.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using Shape = std::vector<std::int64_t>;

TEST(ConvParams, DefaultsAndToString) {
  const fc::ConvParams params(2);
  EXPECT_EQ(params.spatial_dims, 2);
  EXPECT_EQ(params.group_count, 1);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(params.strides[i], 1);
    EXPECT_EQ(params.dilations[i], 1);
    EXPECT_EQ(params.pad_begin[i], 0);
    EXPECT_EQ(params.pad_end[i], 0);
    EXPECT_EQ(params.output_paddings[i], 0);
  }
  EXPECT_EQ(params.to_string(), "stride=[1, 1] dilation=[1, 1] pad=[0, 0]/[0, 0] groups=1");
}

TEST(ConvParams, OneValueAppliesToEveryDimension) {
  const auto params =
      fc::ConvParams(3).stride({2}).dilation({3}).padding({1}).output_padding({1}).groups(4);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(params.strides[i], 2);
    EXPECT_EQ(params.dilations[i], 3);
    EXPECT_EQ(params.pad_begin[i], 1);
    EXPECT_EQ(params.pad_end[i], 1);
    EXPECT_EQ(params.output_paddings[i], 1);
  }
  EXPECT_EQ(params.group_count, 4);
}

TEST(ConvParams, PerDimensionAndAsymmetricPadding) {
  const auto params =
      fc::ConvParams(3).stride({1, 2, 3}).dilation({4, 5, 6}).padding({0, 1, 2}, {3, 4, 5});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(params.strides[i], 1 + i);
    EXPECT_EQ(params.dilations[i], 4 + i);
    EXPECT_EQ(params.pad_begin[i], i);
    EXPECT_EQ(params.pad_end[i], 3 + i);
  }
  const auto one_each = fc::ConvParams(2).padding({1}, {2});
  EXPECT_EQ(one_each.pad_begin[0], 1);
  EXPECT_EQ(one_each.pad_begin[1], 1);
  EXPECT_EQ(one_each.pad_end[0], 2);
  EXPECT_EQ(one_each.pad_end[1], 2);
}

TEST(ConvParams, SpanSetters) {
  const std::vector<std::int64_t> stride = {2, 3}, dilation = {1, 2}, begin = {0, 1}, end = {2, 0},
                                  output_padding = {1, 0};
  fc::ConvParams params(2);
  params.set_stride(stride)
      .set_dilation(dilation)
      .set_padding(begin, end)
      .set_output_padding(output_padding);
  EXPECT_EQ(params.strides[0], 2);
  EXPECT_EQ(params.strides[1], 3);
  EXPECT_EQ(params.dilations[1], 2);
  EXPECT_EQ(params.pad_begin[1], 1);
  EXPECT_EQ(params.pad_end[0], 2);
  EXPECT_EQ(params.output_paddings[0], 1);
  const std::vector<std::int64_t> one = {4};
  params.set_stride(one);
  EXPECT_EQ(params.strides[0], 4);
  EXPECT_EQ(params.strides[1], 4);
}

TEST(ConvParams, ValueChecksAreDeferredToOperations) {
  // Documented: setters check list lengths only; values are checked against operands later.
  EXPECT_NO_THROW(fc::ConvParams(2).stride({0}).dilation({-1}).padding({-2}).groups(0));
}

TEST(ShapeFunctions, ConvOutputSizeFormula) {
  // out = floor((in + pb + pe - e) / stride) + 1, e = dilation * (kernel - 1) + 1.
  for (std::int64_t in = 1; in <= 9; ++in)
    for (std::int64_t kernel = 1; kernel <= 3; ++kernel)
      for (std::int64_t stride = 1; stride <= 3; ++stride)
        for (std::int64_t dilation = 1; dilation <= 2; ++dilation)
          for (std::int64_t pb = 0; pb <= 2; ++pb)
            for (std::int64_t pe = 0; pe <= 2; ++pe) {
              const std::int64_t extent = dilation * (kernel - 1) + 1;
              if (in + pb + pe < extent) {
                EXPECT_THROW(fc::conv_output_size(in, kernel, stride, dilation, pb, pe), fc::Error);
                continue;
              }
              EXPECT_EQ(fc::conv_output_size(in, kernel, stride, dilation, pb, pe),
                        (in + pb + pe - extent) / stride + 1)
                  << in << " " << kernel << " " << stride << " " << dilation << " " << pb << " "
                  << pe;
            }
}

TEST(ShapeFunctions, TransposedOutputSizeFormula) {
  for (std::int64_t in = 1; in <= 6; ++in)
    for (std::int64_t kernel = 1; kernel <= 3; ++kernel)
      for (std::int64_t stride = 1; stride <= 3; ++stride)
        for (std::int64_t dilation = 1; dilation <= 2; ++dilation)
          for (std::int64_t op = 0; op < std::max(stride, dilation); ++op) {
            const std::int64_t extent = dilation * (kernel - 1) + 1;
            const std::int64_t expected = (in - 1) * stride - 1 - 0 + extent + op;
            if (expected < 1) continue;
            EXPECT_EQ(fc::conv_transpose_output_size(in, kernel, stride, dilation, 1, 0, op),
                      expected);
          }
}

TEST(ShapeFunctions, TransposedIsInverseOfConv) {
  // conv(transposed_out) = in whenever output_padding < stride.
  for (std::int64_t in = 1; in <= 7; ++in)
    for (std::int64_t stride = 1; stride <= 3; ++stride)
      for (std::int64_t op = 0; op < stride; ++op) {
        const std::int64_t out = fc::conv_transpose_output_size(in, 3, stride, 1, 1, 1, op);
        if (out < 1) continue;
        EXPECT_EQ(fc::conv_output_size(out, 3, stride, 1, 1, 1), in);
      }
}

TEST(ShapeFunctions, GroupedAndDepthwiseShapes) {
  EXPECT_EQ(fc::conv_output_shape(Shape{2, 6, 7}, Shape{9, 2, 3}, fc::ConvParams(1).groups(3)),
            (Shape{2, 9, 5}));
  // Transposed weight is (C, K / groups, k...): K = 3 * 2.
  EXPECT_EQ(
      fc::conv_transpose_output_shape(Shape{2, 6, 7}, Shape{6, 2, 3}, fc::ConvParams(1).groups(3)),
      (Shape{2, 6, 9}));
}

TEST(ShapeFunctions, AsymmetricPaddingShapes) {
  EXPECT_EQ(fc::conv_output_shape(Shape{1, 1, 5, 5}, Shape{1, 1, 3, 3},
                                  fc::ConvParams(2).padding({0, 2}, {1, 0})),
            (Shape{1, 1, 4, 5}));
}

TEST(TensorView, ContiguousFactory) {
  float data[2 * 3 * 4 * 5];
  const auto view = fc::make_view(static_cast<const float*>(data), {2, 3, 4, 5});
  EXPECT_EQ(view.data, data);
  EXPECT_EQ(view.dtype, fc::DType::float32);
  EXPECT_EQ(view.rank, 4);
  EXPECT_EQ(view.numel(), 120);
  EXPECT_EQ(view.strides[0], 60);
  EXPECT_EQ(view.strides[1], 20);
  EXPECT_EQ(view.strides[2], 5);
  EXPECT_EQ(view.strides[3], 1);
  EXPECT_TRUE(view.is_contiguous());
  EXPECT_FALSE(view.empty_view());
  EXPECT_EQ(view.shape_string(), "[2, 3, 4, 5]");
  EXPECT_EQ(view.dims().size(), 4u);
}

TEST(TensorView, ChannelsLastFactory) {
  double data[2 * 3 * 4 * 5];
  const auto view = fc::make_channels_last_view(static_cast<const double*>(data), {2, 3, 4, 5});
  EXPECT_EQ(view.dtype, fc::DType::float64);
  EXPECT_EQ(view.shape[1], 3);
  // Memory (N, H, W, C).
  EXPECT_EQ(view.strides[0], 60);
  EXPECT_EQ(view.strides[1], 1);
  EXPECT_EQ(view.strides[2], 15);
  EXPECT_EQ(view.strides[3], 3);
  EXPECT_FALSE(view.is_contiguous());
  const std::int64_t shape3[] = {2, 3, 4, 5, 6};
  const auto view3 = fc::TensorView::channels_last(data, fc::DType::float64, shape3);
  EXPECT_EQ(view3.strides[1], 1);
  EXPECT_EQ(view3.strides[4], 3);
  EXPECT_EQ(view3.strides[3], 18);
  EXPECT_EQ(view3.strides[2], 90);
  EXPECT_EQ(view3.strides[0], 360);
}

TEST(TensorView, StridedFactoryAndContiguity) {
  float data[100];
  const std::int64_t shape[] = {2, 3}, gapped[] = {5, 1}, dense[] = {3, 1};
  const auto view = fc::TensorView::strided(data, fc::DType::float32, shape, gapped);
  EXPECT_EQ(view.strides[0], 5);
  EXPECT_EQ(view.strides[1], 1);
  EXPECT_FALSE(view.is_contiguous());
  EXPECT_TRUE(fc::TensorView::strided(data, fc::DType::float32, shape, dense).is_contiguous());
  EXPECT_TRUE(fc::TensorView{}.empty_view());
}

TEST(Names, EnginesDtypesKinds) {
  EXPECT_STREQ(fc::engine_name(fc::Engine::automatic), "auto");
  EXPECT_STREQ(fc::engine_name(fc::Engine::reference), "reference");
  EXPECT_STREQ(fc::engine_name(fc::Engine::im2col), "im2col");
  for (const auto engine : fc::kAllEngines)
    EXPECT_EQ(fc::parse_engine(fc::engine_name(engine)), engine);
  EXPECT_EQ(fc::dtype_size(fc::DType::float32), 4u);
  EXPECT_EQ(fc::dtype_size(fc::DType::float64), 8u);
  EXPECT_STRNE(fc::dtype_name(fc::DType::float32), fc::dtype_name(fc::DType::float64));
  EXPECT_NE(std::string(fc::conv_kind_name(fc::ConvKind::forward)),
            fc::conv_kind_name(fc::ConvKind::transposed));
}

// Registered a second time by CMake with OMP_NUM_THREADS=3 in the environment.
TEST(Threads, DefaultFollowsOmpNumThreads) {
  const char* omp = std::getenv("OMP_NUM_THREADS");
  if (omp == nullptr || std::atoi(omp) < 1) {
    EXPECT_GE(fc::get_num_threads(), 1);
    return;
  }
  EXPECT_EQ(fc::get_num_threads(), std::atoi(omp));
}

TEST(Threads, SetAndGet) {
  const int before = fc::get_num_threads();
  EXPECT_GE(before, 1);
  fc::set_num_threads(1);
  EXPECT_EQ(fc::get_num_threads(), 1);
  fc::set_num_threads(2);
  EXPECT_EQ(fc::get_num_threads(), 2);
  fc::set_num_threads(before);
}

fc::ConvArgs forward_shapes(fc::DType dtype, bool bias) {
  fc::ConvArgs args;
  args.src = fctest::raw_view(nullptr, dtype, Shape{2, 6, 9, 8});
  args.weight = fctest::raw_view(nullptr, dtype, Shape{4, 3, 3, 2});
  if (bias) args.bias = fctest::raw_view(nullptr, dtype, Shape{4});
  args.dst = fctest::raw_view(nullptr, dtype, Shape{2, 4, 4, 7});
  return args;
}

TEST(ConvPlanInfo, EngineKindFlopsDescription) {
  const auto params = fc::ConvParams(2).stride({2, 1}).groups(2);
  for (const auto engine : fctest::kGeneralEngines) {
    const fc::ConvPlan plan(fc::ConvKind::forward, forward_shapes(fc::DType::float32, true), params,
                            engine);
    EXPECT_EQ(plan.kind(), fc::ConvKind::forward);
    EXPECT_NE(plan.engine(), fc::Engine::automatic);
    if (engine != fc::Engine::automatic) {
      EXPECT_EQ(plan.engine(), engine);
    }
    // 2 * N * K * out * (C / g) * kernel = 2 * 2 * 4 * 28 * 3 * 6.
    EXPECT_DOUBLE_EQ(plan.flop_count(), 2.0 * 2 * 4 * 28 * 3 * 6);
    EXPECT_FALSE(plan.description().empty());
  }
}

TEST(ConvPlanInfo, MoveKeepsThePlan) {
  fc::ConvPlan plan(fc::ConvKind::forward, forward_shapes(fc::DType::float64, false),
                    fc::ConvParams(2).stride({2, 1}).groups(2), fc::Engine::im2col);
  fc::ConvPlan moved(std::move(plan));
  EXPECT_EQ(moved.engine(), fc::Engine::im2col);
  fc::ConvPlan assigned(fc::ConvKind::forward, forward_shapes(fc::DType::float64, false),
                        fc::ConvParams(2).stride({2, 1}).groups(2), fc::Engine::reference);
  assigned = std::move(moved);
  EXPECT_EQ(assigned.engine(), fc::Engine::im2col);
  EXPECT_EQ(assigned.kind(), fc::ConvKind::forward);
}

}  // namespace
