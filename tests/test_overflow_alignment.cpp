// Arguments that used to reach undefined behaviour (issue 17, defect 8), now defined:
//   - sizes, strides, paddings and offsets that do not fit 64 bits throw ErrorKind::overflow
//     (or invalid_argument) naming the argument and its values, in ConvParams' helpers, the
//     TensorView factories, windows(), the operand checks and the geometry (also with an empty
//     batch, where no element count catches them);
//   - views that reach outside the address space are refused before they are read;
//   - operand data not aligned to its dtype's size is refused for every operation, naming the
//     operand, its address and the alignment needed; a workspace not aligned to 64 bytes, or
//     overlapping an operand, is refused by ConvPlan::run.
// Every refusal leaves the outputs untouched (sentinel-filled beforehand).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
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
constexpr auto f64 = fc::DType::float64;
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t k2pow62 = std::int64_t(1) << 62;

// ---- ConvParams helpers -----------------------------------------------------------------------

TEST(Overflow, SamePaddingWithHugeValuesIsExact) {
  // out = ceil(in / stride); total = (out - 1) * stride + (kernel - 1) * dilation + 1 - in.
  const std::int64_t in5[] = {5}, k3[] = {3};
  auto params = fc::ConvParams(1).stride({kMax});
  params.same_padding(in5, k3);  // out 1, total max(0, 3 - 5) = 0
  EXPECT_EQ(params.pad_begin[0], 0);
  EXPECT_EQ(params.pad_end[0], 0);
  const std::int64_t in_max[] = {kMax};
  params = fc::ConvParams(1);
  params.same_padding(in_max, k3);  // stride 1: total 2
  EXPECT_EQ(params.pad_begin[0], 1);
  EXPECT_EQ(params.pad_end[0], 1);
  params = fc::ConvParams(1).stride({k2pow62});
  params.same_padding(in_max, k3, fc::SamePadding::lower);  // out 2: total 2^62 + 3 - (2^63 - 1) < 0
  EXPECT_EQ(params.pad_begin[0], 0);
  EXPECT_EQ(params.pad_end[0], 0);
  const std::int64_t in_big[] = {k2pow62};
  params = fc::ConvParams(1).stride({kMax}).dilation({k2pow62 / 2});
  params.same_padding(in_big, k3);  // out 1: total = 2 * 2^61 + 1 - 2^62 = 1
  EXPECT_EQ(params.pad_begin[0], 0);
  EXPECT_EQ(params.pad_end[0], 1);
}

TEST(Overflow, SamePaddingRefusesExtentsBeyond64Bits) {
  const std::int64_t in5[] = {5}, k3[] = {3}, k_huge[] = {k2pow62};
  EXPECT_TRUE(throws([&] { fc::ConvParams(1).stride({kMax}).dilation({kMax}).same_padding(in5, k3); },
                     ErrorKind::overflow, {"same_padding", std::to_string(kMax)},
                     {"dilation", "kernel"}));
  EXPECT_TRUE(throws([&] { fc::ConvParams(1).dilation({4}).same_padding(in5, k_huge); },
                     ErrorKind::overflow, {"same_padding", std::to_string(k2pow62 - 1)}));
}

TEST(Overflow, OutputSizeForTransposedWithHugeValues) {
  const std::int64_t in[] = {k2pow62}, k3[] = {3}, want[] = {8};
  // (in - 1) * stride overflows.
  EXPECT_TRUE(throws(
      [&] { fc::ConvParams(1).stride({4}).output_size_for_transposed(in, k3, want); },
      ErrorKind::overflow, {"output_size_for_transposed", std::to_string(k2pow62 - 1)}));
  // Requested sizes near the limits: no overflow in the reachable range either.
  const std::int64_t in4[] = {4}, want_max[] = {kMax};
  EXPECT_TRUE(throws(
      [&] { fc::ConvParams(1).stride({kMax}).output_size_for_transposed(in4, k3, want_max); },
      ErrorKind::overflow, {"output_size_for_transposed"}));
  const std::int64_t in1[] = {1}, want_min[] = {kMin};
  EXPECT_TRUE(throws(
      [&] { fc::ConvParams(1).stride({kMax}).output_size_for_transposed(in1, k3, want_min); },
      ErrorKind::invalid_argument, {"output_size_for_transposed", std::to_string(kMin)}));
  // A reachable huge size: in 2, stride 2^62, kernel 3: minimum 2^62 + 3, range [min, min + 2^62),
  // whose end is past INT64_MAX.
  const std::int64_t in2[] = {2}, want_top[] = {kMax};
  auto params = fc::ConvParams(1).stride({k2pow62});
  params.output_size_for_transposed(in2, k3, want_top);
  EXPECT_EQ(params.output_paddings[0], kMax - (k2pow62 + 3));
  // Invalid parameters are named (they used to give a meaningless range).
  const std::int64_t want5[] = {5};
  EXPECT_TRUE(throws(
      [&] { fc::ConvParams(1).stride({0}).output_size_for_transposed(in4, k3, want5); },
      ErrorKind::invalid_argument, {"output_size_for_transposed", "stride", "0"}));
  EXPECT_TRUE(throws(
      [&] { fc::ConvParams(1).padding({-1}).output_size_for_transposed(in4, k3, want5); },
      ErrorKind::invalid_argument, {"output_size_for_transposed", "-1"}, {"pad"}));
}

TEST(Overflow, ShapeFunctionsWithHugeValues) {
  // Valid and representable (every tensor's byte size, 8 bytes per element, fits 64 bits).
  const std::int64_t two58 = std::int64_t(1) << 58;
  EXPECT_EQ(fc::conv_output_size(two58, 3, 1, 1, 0, 0), two58 - 2);
  EXPECT_EQ(fc::conv_output_size(two58, 3, kMax, 1, 0, 0), 1);
  EXPECT_EQ(fc::conv_output_size(3, 2, 1, two58, two58, 0), 3);  // (3 + 2^58 - (2^58 + 1)) + 1
  // ... but not the unfolded matrix of a kernel of 2^57 over 2^58 + 1 windows.
  EXPECT_TRUE(throws([&] { fc::conv_output_size(two58, two58 / 2, 1, 1, two58, 0); },
                     ErrorKind::overflow, {"conv_output_size", "unfolded"}));
  // Sizes whose byte counts do not fit are overflow, not wrapped results.
  EXPECT_TRUE(throws([] { fc::conv_output_size(kMax, 3, 1, 1, 0, 0); }, ErrorKind::overflow,
                     {std::to_string(kMax)}));
  EXPECT_TRUE(throws([] { fc::conv_output_size(5, 3, 1, kMax, 0, 0); }, ErrorKind::overflow,
                     {std::to_string(kMax)}));
  EXPECT_TRUE(throws([] { fc::conv_output_size(5, kMax, 1, 1, kMax, kMax); }, ErrorKind::overflow,
                     {std::to_string(kMax)}));
  EXPECT_TRUE(throws([] { fc::conv_transpose_output_size(2, 3, kMax, 1, 0, 0, 0); },
                     ErrorKind::overflow, {std::to_string(kMax)}));
  // Empty batch: no element count overflows, but spatial products do.
  const std::int64_t two40 = std::int64_t(1) << 40;
  EXPECT_TRUE(throws(
      [&] {
        fc::conv_output_shape(Shape{0, 1, two40, two40, two40}, Shape{1, 1, 1, 1, 1},
                              fc::ConvParams(3));
      },
      ErrorKind::overflow, {"conv_output_shape", std::to_string(two40)}));
  EXPECT_TRUE(throws(
      [&] {
        const std::int64_t kernel[] = {two40, two40, two40};
        fc::unfold_output_shape(Shape{0, 1, two40, two40, two40}, kernel, fc::ConvParams(3));
      },
      ErrorKind::overflow, {"unfold_output_shape"}));
}

// ---- TensorView ---------------------------------------------------------------------------------

TEST(Overflow, TensorViewFactoriesAndNumel) {
  float cell = 0.0f;
  const std::int64_t two40 = std::int64_t(1) << 40;
  const Shape huge = {two40, two40, two40};
  EXPECT_TRUE(throws([&] { fc::TensorView::contiguous(&cell, f32, huge); }, ErrorKind::overflow,
                     {"TensorView::contiguous", std::to_string(two40)}));
  EXPECT_TRUE(throws([&] { fc::TensorView::channels_last(&cell, f32, huge); }, ErrorKind::overflow,
                     {"TensorView::channels_last", std::to_string(two40)}));
  const Shape big = {two40, two40}, big_strides = {0, 0};
  const auto view = fc::TensorView::strided(&cell, f32, big, big_strides);
  EXPECT_TRUE(throws([&] { (void)view.numel(); }, ErrorKind::overflow,
                     {"numel", std::to_string(two40)}));
  EXPECT_FALSE(view.is_contiguous());
  // The last product of a contiguous check may overflow without making the answer false.
  const Shape one_big = {1, kMax}, one_big_strides = {5, 1};
  EXPECT_TRUE(fc::TensorView::strided(&cell, f32, one_big, one_big_strides).is_contiguous());
  const Shape wide = {3, k2pow62}, wide_strides = {k2pow62, 1};
  EXPECT_TRUE(fc::TensorView::strided(&cell, f32, wide, wide_strides).is_contiguous());
  const Shape fits = {4, 5};
  EXPECT_EQ(fc::TensorView::contiguous(&cell, f32, fits).numel(), 20);
}

// ---- windows() ----------------------------------------------------------------------------------

TEST(Overflow, WindowsStridesBeyond64Bits) {
  Tensor src(f32, {1, 1, 10});
  const Shape kernel = {3}, one = {1};
  auto view = src.view();
  view.strides[2] = 4;  // a strided source: 4 * 2^62 does not fit
  std::vector<float> storage(40, 0.0f);
  view.data = storage.data();
  EXPECT_TRUE(throws([&] { fc::windows(view, kernel, Shape{k2pow62}, one); }, ErrorKind::overflow,
                     {"windows", "stride", std::to_string(k2pow62)}));
  EXPECT_TRUE(throws([&] { fc::windows(view, Shape{1}, one, Shape{kMax}); }, ErrorKind::overflow,
                     {"windows", "dilation", std::to_string(kMax)}));
  // The same with a unit-stride source is representable: one window, stride 2^62.
  const auto fine = fc::windows(src.view(), kernel, Shape{k2pow62}, one);
  EXPECT_EQ(fine.shape[2], 1);
  EXPECT_EQ(fine.strides[2], k2pow62);
  // A source whose own byte range does not fit is refused before anything is derived from it.
  auto wrapping = src.view();
  wrapping.strides[2] = kMax / 4;
  EXPECT_TRUE(throws([&] { fc::windows(wrapping, kernel, one, one); }, ErrorKind::overflow,
                     {"windows", "src"}));
}

// ---- steps that are never taken ------------------------------------------------------------------

// A stride along an axis with one output position, or a dilation along an axis with one tap, is
// never stepped; engines used to compute with it (wrong results, a hang in implicit_gemm for
// stride INT64_MAX). Every engine that takes the problem must give the reference's answer.
TEST(HugeUnusedSteps, EveryEngineAgreesWithTheReference) {
  // Per case: the kernel (H, W), which axis gets the huge step, and whether it is the stride
  // (that axis then has one output position) or the dilation (that axis has one tap).
  struct Case {
    std::int64_t kernel_h, kernel_w;
    int axis;
    bool stride;
  };
  const Case cases[] = {{3, 3, 0, true}, {3, 3, 1, true}, {1, 3, 0, false}, {3, 1, 1, false}};
  fctest::Rng rng(41);
  Tensor src(f32, {1, 2, 10, 10});
  src.fill_int(rng, -3, 3);
  for (const Case& c : cases) {
    for (const std::int64_t huge : {kMax, k2pow62, std::int64_t(1) << 40}) {
      Tensor weight(f32, {3, 2, c.kernel_h, c.kernel_w});
      weight.fill_int(rng, -3, 3);
      auto params = fc::ConvParams(2).padding({c.kernel_h / 2, c.kernel_w / 2});
      (c.stride ? params.strides : params.dilations)[std::size_t(c.axis)] = huge;
      const Shape out_shape = fc::conv_output_shape(src.shape(), weight.shape(), params);
      const std::string label = std::string(c.stride ? "stride[" : "dilation[") +
                                std::to_string(c.axis) + "] = " + std::to_string(huge);
      Tensor expected(f32, out_shape);
      fc::conv_forward(src.view(), weight.view(), nullptr, expected.view(), params, fc::Engine::reference);
      for (const fc::Engine engine : fc::kAllEngines) {
        Tensor dst(f32, out_shape);
        dst.fill_storage(fctest::kSentinel);
        try {
          fc::conv_forward(src.view(), weight.view(), nullptr, dst.view(), params, engine);
        } catch (const fc::Error& error) {
          EXPECT_EQ(error.kind(), ErrorKind::engine_declined) << fc::engine_name(engine) << ": " << error.what();
          continue;
        }
        EXPECT_EQ(dst.to_dense(), expected.to_dense()) << fc::engine_name(engine) << ", " << label;
      }
      // The adjoints on the same geometry: backward_data and backward_weights.
      Tensor diff_src_expected(f32, src.shape()), diff_src(f32, src.shape());
      fc::conv_backward_data(expected.view(), weight.view(), diff_src_expected.view(), params,
                             fc::Engine::reference);
      Tensor diff_weight_expected(f32, weight.shape()), diff_weight(f32, weight.shape());
      fc::conv_backward_weights(src.view(), expected.view(), diff_weight_expected.view(), nullptr,
                                params, fc::Engine::reference);
      for (const fc::Engine engine : fctest::kGeneralEngines) {
        fc::conv_backward_data(expected.view(), weight.view(), diff_src.view(), params, engine);
        EXPECT_EQ(diff_src.to_dense(), diff_src_expected.to_dense()) << fc::engine_name(engine) << ", " << label;
        fc::conv_backward_weights(src.view(), expected.view(), diff_weight.view(), nullptr, params, engine);
        EXPECT_EQ(diff_weight.to_dense(), diff_weight_expected.to_dense())
            << fc::engine_name(engine) << ", " << label;
      }
    }
  }
}

// ---- operand checks -----------------------------------------------------------------------------

// A forward problem src (1,1,1,3) * weight (1,1,1,1) -> dst (1,1,1,3) with dst given `strides`.
void forward_with_dst_strides(const Shape& dst_strides, float* dst_data, fc::Engine engine) {
  Tensor src(f32, {1, 1, 1, 3}), weight(f32, {1, 1, 1, 1});
  src.fill(1.0);
  weight.fill(2.0);
  const auto dst = fc::TensorView::strided(dst_data, f32, Shape{1, 1, 1, 3}, dst_strides);
  fc::conv_forward(src.view(), weight.view(), nullptr, dst, fc::ConvParams(2), engine);
}

class OperandChecks : public ::testing::TestWithParam<fc::Engine> {
 protected:
  fc::Engine engine() const { return GetParam(); }
};

TEST_P(OperandChecks, HugeOutputStridesAreOverflowNotUndefined) {
  std::vector<float> storage(16, -1.0f);
  const auto before = storage;
  // Byte ranges 2 * 2^62 and 2 * INT64_MIN do not fit: overflow, named, before any other check.
  EXPECT_TRUE(throws([&] { forward_with_dst_strides({3, 3, 3, k2pow62}, storage.data(), engine()); },
                     ErrorKind::overflow, {"conv_forward", "dst"}));
  EXPECT_TRUE(throws([&] { forward_with_dst_strides({3, 3, 3, kMin}, storage.data(), engine()); },
                     ErrorKind::overflow, {"conv_forward", "dst"}));
  EXPECT_EQ(storage, before);
}

TEST_P(OperandChecks, ViewsReachingOutsideTheAddressSpaceAreRefused) {
  // src at a low fake address whose negative stride would reach below address 0, and a dst whose
  // positive stride would pass the top of the address space: refused before anything is read.
  Tensor weight(f32, {1, 1, 1, 1}), dst(f32, {1, 1, 1, 3});
  dst.fill_storage(fctest::kSentinel);
  void* low = reinterpret_cast<void*>(std::uintptr_t(4096));
  const auto src = fc::TensorView::strided(low, f32, Shape{1, 1, 1, 3},
                                           Shape{3, 3, 3, -(std::int64_t(1) << 40)});
  EXPECT_TRUE(throws(
      [&] { fc::conv_forward(src, weight.view(), nullptr, dst.view(), fc::ConvParams(2), engine()); },
      ErrorKind::invalid_argument, {"conv_forward", "src", "address"}));
  void* high = reinterpret_cast<void*>(~std::uintptr_t(0) - 4095);
  const auto src_high = fc::TensorView::strided(high, f32, Shape{1, 1, 1, 3},
                                                Shape{3, 3, 3, std::int64_t(1) << 40});
  EXPECT_TRUE(throws(
      [&] {
        fc::conv_forward(src_high, weight.view(), nullptr, dst.view(), fc::ConvParams(2), engine());
      },
      ErrorKind::invalid_argument, {"conv_forward", "src", "address"}));
  EXPECT_TRUE(dst.all_storage_is(fctest::kSentinel));
}

TEST_P(OperandChecks, EmptyBatchWithHugeSpatialSizeIsOverflow) {
  // N = 0: every element count is 0, but the geometry's pixel counts do not fit.
  const std::int64_t two40 = std::int64_t(1) << 40;
  float cell = 0.0f, out = -1.0f;
  const Shape shape = {0, 1, two40, two40, two40}, strides = {1, 1, 1, 1, 1};
  const auto src = fc::TensorView::strided(&cell, f32, shape, strides);
  const auto dst = fc::TensorView::strided(&out, f32, shape, strides);
  Tensor weight(f32, {1, 1, 1, 1, 1});
  EXPECT_TRUE(throws(
      [&] { fc::conv_forward(src, weight.view(), nullptr, dst, fc::ConvParams(3), engine()); },
      ErrorKind::overflow, {"conv_forward", std::to_string(two40)}));
  EXPECT_EQ(out, -1.0f);
}

// ---- alignment ----------------------------------------------------------------------------------

// A contiguous view of `shape` whose data pointer is `offset` bytes past an aligned address.
struct OffsetBuffer {
  std::vector<double> storage;  // 8-byte aligned
  fc::TensorView view;
  OffsetBuffer(fc::DType dtype, const Shape& shape, std::size_t offset) {
    std::int64_t count = 1;
    for (auto extent : shape) count *= extent;
    storage.assign(std::size_t(count) + 2, double(fctest::kSentinel));
    auto* bytes = reinterpret_cast<unsigned char*>(storage.data()) + offset;
    view = fctest::raw_view(bytes, dtype, shape);
  }
};

// The operands of one kind, every one a Tensor; outputs sentinel-filled.
struct KindOperands {
  fc::ConvKind kind;
  Tensor src, weight, bias, dst, diff_dst, diff_src, diff_weight, diff_bias;
  explicit KindOperands(fc::ConvKind k, fc::DType dtype) : kind(k) {
    const Shape image = {1, 2, 5, 5}, out = {1, 3, 3, 3}, filters = {3, 2, 3, 3};
    fctest::Rng rng(5);
    auto make = [&](Tensor& t, const Shape& shape) {
      t = Tensor(dtype, shape);
      t.fill_int(rng, -2, 2);
    };
    switch (k) {
      case fc::ConvKind::forward:
        make(src, image), make(weight, filters), make(bias, {3}), make(dst, out);
        break;
      case fc::ConvKind::transposed:  // src (1,3,3,3), weight (C=3, K/g=2, 3, 3) -> dst (1,2,5,5)
        make(src, out), make(weight, filters), make(bias, {2}), make(dst, image);
        break;
      case fc::ConvKind::backward_data:
        make(diff_dst, out), make(weight, filters), make(diff_src, image);
        break;
      case fc::ConvKind::backward_weights:
        make(src, image), make(diff_dst, out), make(diff_weight, filters), make(diff_bias, {3});
        break;
    }
    for (Tensor* output : {&dst, &diff_src, &diff_weight, &diff_bias})
      if (output->rank() != 0) output->fill_storage(fctest::kSentinel);
  }
  fc::ConvArgs args() const {
    auto v = [](const Tensor& t) { return t.rank() ? t.view() : fc::TensorView{}; };
    return {v(src), v(weight), v(bias), v(dst), v(diff_dst), v(diff_src), v(diff_weight), v(diff_bias)};
  }
  bool outputs_untouched() const {
    for (const Tensor* output : {&dst, &diff_src, &diff_weight, &diff_bias})
      if (output->rank() != 0 && !output->all_storage_is(fctest::kSentinel)) return false;
    return true;
  }
};

constexpr fc::ConvKind kKinds[] = {fc::ConvKind::forward, fc::ConvKind::transposed,
                                   fc::ConvKind::backward_data, fc::ConvKind::backward_weights};
constexpr const char* kOperandNames[] = {"src", "weight", "bias", "dst",
                                         "diff_dst", "diff_src", "diff_weight", "diff_bias"};

fc::TensorView& operand_at(fc::ConvArgs& args, int index) {
  fc::TensorView* all[] = {&args.src,      &args.weight,   &args.bias,        &args.dst,
                           &args.diff_dst, &args.diff_src, &args.diff_weight, &args.diff_bias};
  return *all[index];
}

TEST_P(OperandChecks, MisalignedOperandsAreRefusedInEveryKind) {
  for (const auto dtype : {f32, f64}) {
    const std::size_t element = fc::dtype_size(dtype);
    for (const auto kind : kKinds) {
      for (int index = 0; index < 8; ++index) {
        KindOperands operands(kind, dtype);
        fc::ConvArgs args = operands.args();
        fc::TensorView& operand = operand_at(args, index);
        if (operand.rank == 0) continue;
        for (std::size_t offset = 1; offset < element; offset += (dtype == f32 ? 1 : 3)) {
          OffsetBuffer misaligned(dtype, Shape(operand.dims().begin(), operand.dims().end()), offset);
          fc::TensorView moved = operand;
          operand = misaligned.view;
          const fc::ConvPlan plan(kind, args, fc::ConvParams(2), engine());
          const std::string name = kOperandNames[index];
          EXPECT_TRUE(throws([&] { plan.run(args); }, ErrorKind::invalid_argument,
                             {fc::conv_kind_name(kind), name, "align", std::to_string(element),
                              "0x"}))
              << fc::conv_kind_name(kind) << " " << name << " offset " << offset;
          EXPECT_TRUE(operands.outputs_untouched()) << fc::conv_kind_name(kind) << " " << name;
          operand = moved;
        }
      }
    }
  }
}

TEST_P(OperandChecks, MisalignedPackedWeightsAreRefused) {
  KindOperands operands(fc::ConvKind::forward, f32);
  fc::ConvPlan plan(fc::ConvKind::forward, operands.args(), fc::ConvParams(2), engine());
  OffsetBuffer misaligned(f32, {3, 2, 3, 3}, 2);
  EXPECT_TRUE(throws([&] { plan.pack_weights(misaligned.view); }, ErrorKind::invalid_argument,
                     {"pack_weights", "weight", "align", "4"}));
  EXPECT_FALSE(plan.has_packed_weights());
}

TEST_P(OperandChecks, MisalignedUnfoldFoldOperandsAreRefused) {
  const Shape kernel = {2, 2};
  const auto params = fc::ConvParams(2);
  Tensor image(f64, {1, 2, 4, 4}), columns(f64, {1, 8, 9});
  OffsetBuffer bad_image(f64, {1, 2, 4, 4}, 4), bad_columns(f64, {1, 8, 9}, 4);
  columns.fill_storage(fctest::kSentinel);
  image.fill_storage(fctest::kSentinel);
  EXPECT_TRUE(throws([&] { fc::unfold(bad_image.view, columns.view(), kernel, params, engine()); },
                     ErrorKind::invalid_argument, {"unfold", "src", "align", "8"}));
  EXPECT_TRUE(throws([&] { fc::unfold(image.view(), bad_columns.view, kernel, params, engine()); },
                     ErrorKind::invalid_argument, {"unfold", "dst", "align", "8"}));
  EXPECT_TRUE(throws([&] { fc::fold(bad_columns.view, image.view(), kernel, params, engine()); },
                     ErrorKind::invalid_argument, {"fold", "src", "align", "8"}));
  EXPECT_TRUE(throws([&] { fc::fold(columns.view(), bad_image.view, kernel, params, engine()); },
                     ErrorKind::invalid_argument, {"fold", "dst", "align", "8"}));
  EXPECT_TRUE(columns.all_storage_is(fctest::kSentinel));
  EXPECT_TRUE(image.all_storage_is(fctest::kSentinel));
}

TEST_P(OperandChecks, EmptyViewsMayHaveAnyPointer) {
  // No elements, nothing dereferenced: alignment (like null) is not required.
  OffsetBuffer src(f32, {0, 2, 5, 5}, 1), dst(f32, {0, 3, 3, 3}, 3);
  Tensor weight(f32, {3, 2, 3, 3});
  EXPECT_NO_THROW(
      fc::conv_forward(src.view, weight.view(), nullptr, dst.view, fc::ConvParams(2), engine()));
}

TEST_P(OperandChecks, WorkspaceMustBe64ByteAlignedAndApart) {
  for (const auto kind : kKinds) {
    KindOperands operands(kind, f32);
    const fc::ConvPlan plan(kind, operands.args(), fc::ConvParams(2), engine());
    std::vector<std::uint64_t> storage(plan.workspace_bytes() / 8 + 32);
    auto* aligned = reinterpret_cast<unsigned char*>(
        (reinterpret_cast<std::uintptr_t>(storage.data()) + 63) / 64 * 64);
    for (std::size_t offset : {8, 32, 1}) {
      EXPECT_TRUE(throws([&] { plan.run(operands.args(), aligned + offset); },
                         ErrorKind::invalid_argument, {"workspace", "64", "0x"}))
          << fc::conv_kind_name(kind) << " offset " << offset;
      EXPECT_TRUE(operands.outputs_untouched()) << fc::conv_kind_name(kind);
    }
    EXPECT_NO_THROW(plan.run(operands.args(), aligned)) << fc::conv_kind_name(kind);
  }
  // A workspace inside an operand's memory would be overwritten (or overwrite it): refused.
  KindOperands operands(fc::ConvKind::forward, f32);
  const fc::ConvPlan plan(fc::ConvKind::forward, operands.args(), fc::ConvParams(2),
                          fc::Engine::im2col);
  ASSERT_GT(plan.workspace_bytes(), 0u);
  std::vector<float> big(plan.workspace_bytes() / 4 + 256, 1.0f);
  auto* base = reinterpret_cast<unsigned char*>(
      (reinterpret_cast<std::uintptr_t>(big.data()) + 63) / 64 * 64);
  fc::ConvArgs args = operands.args();
  args.src = fctest::raw_view(base + 64 * 2, f32, Shape{1, 2, 5, 5});
  EXPECT_TRUE(throws([&] { plan.run(args, base); }, ErrorKind::invalid_argument,
                     {"workspace", "src"}, {"overlap", "alias"}));
  EXPECT_TRUE(operands.outputs_untouched());
}

TEST(Alignment, MisalignedWindowsSourceIsRefused) {
  OffsetBuffer src(f32, {1, 1, 6, 6}, 2);
  const Shape two = {2, 2}, one = {1, 1};
  EXPECT_TRUE(throws([&] { fc::windows(src.view, two, one, one); }, ErrorKind::invalid_argument,
                     {"windows", "src", "align", "4", "0x"}));
}

INSTANTIATE_TEST_SUITE_P(GeneralEngines, OperandChecks, ::testing::ValuesIn(fctest::kGeneralEngines),
                         [](const ::testing::TestParamInfo<fc::Engine>& info) {
                           return std::string(info.param == fc::Engine::automatic
                                                  ? "automatic"
                                                  : fc::engine_name(info.param));
                         });

}  // namespace
