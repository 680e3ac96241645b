// test_implicit_gemm_kernels.cpp — every implicit-GEMM microkernel of implicit_gemm_kernels.inc
// that this CPU (and FASTCONV_MAX_ISA) allows, for every tile width P = 1..pmax, against a naive
// loop over the kernel contract (implicit_gemm_kernels.hpp).
//
// Edges: one and several input channels; tap layouts of a 1x1, a 3x3 and a 1x3x3 kernel with
// the engine's window layout at stride 1 and 2, dilation 1 and 2; output-channel remainders
// (1, lanes + 1, OCB - 1, OCB); bias on/off, accumulate on/off, activations none / relu / clamp;
// NCHW (unit pixel stride), channels-last (unit channel stride) and other dst strides, whose
// gaps must keep their sentinel. Padded weight lanes and bias entries past the stored channels
// hold garbage, which must not leak. Inputs are small integers, so results are exact. Also the
// ISA's weight packing (an in-register transpose) against a plain copy.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "isa/cpu_isa.hpp"
#include "kernels/implicit_gemm/implicit_gemm_kernels.hpp"

namespace fastconv::detail {
namespace {

constexpr float kSentinel = -777.125f;

struct TapShape {
  int kernel_rows, kernel_w, stride, dilation;
};

enum class DstLayout { nchw, channels_last, strided };

struct Case {
  int pixels, channels;
  TapShape taps;
  int out_channels;
  DstLayout layout;
  bool bias, accumulate;
  Activation activation;
};

std::string describe(const IgemmKernel& kernel, const Case& c) {
  return kernel.name(c.pixels) + " channels=" + std::to_string(c.channels) +
         " rows=" + std::to_string(c.taps.kernel_rows) + " kw=" + std::to_string(c.taps.kernel_w) +
         " stride=" + std::to_string(c.taps.stride) + " dilation=" + std::to_string(c.taps.dilation) +
         " oc=" + std::to_string(c.out_channels) + " layout=" + std::to_string(int(c.layout)) +
         " bias=" + std::to_string(c.bias) + " accumulate=" + std::to_string(c.accumulate) +
         " activation=" + std::to_string(int(c.activation));
}

void run_case(const IgemmKernel& kernel, const Case& c, std::mt19937& rng) {
  std::uniform_int_distribution<int> small(-3, 3);
  const int ocb = kernel.ocb(), P = c.pixels;
  // The engine's window layout: rows of stride phases, so a tap's P values are consecutive.
  const TapShape& t = c.taps;
  const std::int64_t span = std::int64_t(P - 1) * t.stride + std::int64_t(t.kernel_w - 1) * t.dilation + 1;
  const std::int64_t phase_len = (span + t.stride - 1) / t.stride, row_len = t.stride * phase_len;
  std::vector<std::int64_t> tap_offsets;
  for (int row = 0; row < t.kernel_rows; ++row)
    for (int kw = 0; kw < t.kernel_w; ++kw) {
      const std::int64_t x = std::int64_t(kw) * t.dilation;
      tap_offsets.push_back(row * row_len + (x % t.stride) * phase_len + x / t.stride);
    }
  const std::int64_t taps = std::int64_t(tap_offsets.size());
  const std::int64_t channel_stride = t.kernel_rows * row_len + 3;
  std::vector<float> window(std::size_t(c.channels * channel_stride));
  std::vector<float> weights(std::size_t(c.channels * taps * ocb));
  std::vector<float> bias(static_cast<std::size_t>(ocb));
  for (auto& v : window) v = float(small(rng));
  for (auto& v : weights) v = float(small(rng));
  for (auto& v : bias) v = float(small(rng));

  std::int64_t pixel_stride = 1, dst_channel_stride = 1;
  switch (c.layout) {
    case DstLayout::nchw: pixel_stride = 1; dst_channel_stride = P + 3; break;
    case DstLayout::channels_last: pixel_stride = ocb + 2; dst_channel_stride = 1; break;
    case DstLayout::strided: pixel_stride = 2; dst_channel_stride = 2 * P + 5; break;
  }
  const std::int64_t dst_size = (P - 1) * pixel_stride + (ocb - 1) * dst_channel_stride + 8;
  std::vector<float> dst(std::size_t(dst_size), kSentinel);
  std::vector<bool> is_output(std::size_t(dst_size), false);
  for (int p = 0; p < P; ++p)
    for (int j = 0; j < c.out_channels; ++j) {
      const std::size_t index = std::size_t(p * pixel_stride + j * dst_channel_stride);
      dst[index] = float(small(rng));
      is_output[index] = true;
    }
  const std::vector<float> initial = dst;

  IgemmArgs args;
  args.window = window.data();
  args.window_channel_stride = channel_stride;
  args.tap_offsets = tap_offsets.data();
  args.taps = taps;
  args.channels = c.channels;
  args.weights = weights.data();
  args.dst = dst.data();
  args.dst_pixel_stride = pixel_stride;
  args.dst_channel_stride = dst_channel_stride;
  args.out_channels = c.out_channels;
  args.epilogue.bias = c.bias ? bias.data() : nullptr;
  args.epilogue.accumulate = c.accumulate;
  args.epilogue.activation = c.activation;
  args.epilogue.clamp_min = -20.0f;
  args.epilogue.clamp_max = 15.0f;
  kernel.get(P)(args);

  for (std::int64_t i = 0; i < dst_size; ++i) {
    if (!is_output[std::size_t(i)]) {
      ASSERT_EQ(dst[std::size_t(i)], kSentinel) << describe(kernel, c) << " wrote a gap at " << i;
    }
  }
  for (int p = 0; p < P; ++p)
    for (int j = 0; j < c.out_channels; ++j) {
      const std::size_t index = std::size_t(p * pixel_stride + j * dst_channel_stride);
      double expected = 0.0;
      for (int ch = 0; ch < c.channels; ++ch)
        for (std::int64_t tap = 0; tap < taps; ++tap)
          expected += double(window[std::size_t(ch * channel_stride + tap_offsets[std::size_t(tap)] + p)]) *
                      double(weights[std::size_t((ch * taps + tap) * ocb + j)]);
      if (c.bias) expected += double(bias[std::size_t(j)]);
      if (c.accumulate) expected += double(initial[index]);
      if (c.activation == Activation::relu) expected = std::max(expected, 0.0);
      if (c.activation == Activation::clamp) expected = std::min(std::max(expected, -20.0), 15.0);
      ASSERT_EQ(double(dst[index]), expected) << describe(kernel, c) << " at pixel " << p << " channel " << j;
    }
}

TEST(ImplicitGemmKernels, EveryKernelEveryTileWidthAgainstNaive) {
  std::mt19937 rng(4321);
  int tested = 0;
  const TapShape tap_shapes[] = {{1, 1, 1, 1}, {3, 3, 1, 1}, {3, 3, 2, 2}, {1, 3, 2, 1}, {2, 2, 3, 2}};
  struct Epilogue {
    bool bias, accumulate;
    Activation activation;
  };
  const Epilogue epilogues[] = {{false, false, Activation::none},
                                {true, false, Activation::none},
                                {false, true, Activation::relu},
                                {true, true, Activation::clamp}};
  for (const IgemmKernel& kernel : all_igemm_kernels()) {
    if (!isa_enabled(kernel.isa)) continue;
    ++tested;
    const int ocb = kernel.ocb();
    const int out_channel_counts[] = {1, kernel.lanes + 1 <= ocb ? kernel.lanes + 1 : ocb, ocb - 1, ocb};
    for (int pixels = 1; pixels <= kernel.pmax; ++pixels)
      for (const int channels : {1, 3})
        for (const TapShape& taps : tap_shapes)
          for (const int out_channels : out_channel_counts)
            for (const DstLayout layout : {DstLayout::nchw, DstLayout::channels_last, DstLayout::strided})
              for (const Epilogue& e : epilogues) {
                const Case c{pixels, channels, taps, std::max(1, out_channels), layout, e.bias,
                             e.accumulate, e.activation};
                run_case(kernel, c, rng);
                if (::testing::Test::HasFatalFailure()) return;
              }
  }
  EXPECT_GT(tested, 0) << "no implicit-GEMM kernel runs on this CPU";
}

// The ISA's weight packing: every filter count up to past two vector widths, lengths with and
// without a partial block, a gapped output stride; lanes past `filters` up to the vector width
// are zeroed, the rest of each output row is left alone.
TEST(ImplicitGemmKernels, PackTransposesAndZeroFills) {
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> small(-3, 3);
  for (const IgemmKernel& kernel : all_igemm_kernels()) {
    if (!isa_enabled(kernel.isa)) continue;
    const std::int64_t lanes = kernel.lanes;
    for (std::int64_t filters = 1; filters <= 2 * lanes + 1; ++filters)
      for (const std::int64_t length : {std::int64_t(1), lanes - 1, lanes, 3 * lanes + 5}) {
        if (length < 1) continue;
        const std::int64_t filter_stride = length + 3;
        const std::int64_t padded = (filters + lanes - 1) / lanes * lanes, out_stride = padded + 5;
        std::vector<float> src(std::size_t(filters * filter_stride));
        for (auto& v : src) v = float(small(rng));
        std::vector<float> out(std::size_t(length * out_stride), kSentinel);
        kernel.pack(src.data(), filter_stride, filters, length, out.data(), out_stride);
        for (std::int64_t i = 0; i < length; ++i)
          for (std::int64_t j = 0; j < out_stride; ++j) {
            const float expected = j < filters ? src[std::size_t(j * filter_stride + i)] : (j < padded ? 0.0f : kSentinel);
            ASSERT_EQ(out[std::size_t(i * out_stride + j)], expected)
                << isa_name(kernel.isa) << " filters=" << filters << " length=" << length << " at " << i << "," << j;
          }
      }
  }
}

// The ISA's window rows copy against the contract's formula: strides 1-3 (AVX-512's permute path
// at 2), unit and gapped steps, spans starting before the row, ending past it, or both, phases
// longer than the span, one and three rows. Values past each output row keep the sentinel.
TEST(ImplicitGemmKernels, FillRowsCopiesZeroPadsAndDeinterleaves) {
  for (const IgemmKernel& kernel : all_igemm_kernels()) {
    if (!isa_enabled(kernel.isa)) continue;
    for (const std::int64_t stride : {1, 2, 3})
      for (const std::int64_t step : {1, 3})
        for (const std::int64_t width : {1, 5, 16, 37})
          for (const std::int64_t span : {1, 2, 15, 16, 17, 33, 70})
            for (const std::int64_t first : {std::int64_t(-9), std::int64_t(-1), std::int64_t(0), std::int64_t(3), width - 2, width + 1})
              for (const std::int64_t extra : {0, 5})
                for (const std::int64_t rows : {1, 3}) {
                  const std::int64_t phase_len = (span + stride - 1) / stride + extra;
                  const std::int64_t src_row_stride = width * step + 2, out_row_stride = stride * phase_len + 4;
                  std::vector<float> src(std::size_t(rows * src_row_stride));
                  for (std::size_t i = 0; i < src.size(); ++i) src[i] = float(i % 97) + 1.0f;
                  std::vector<float> out(std::size_t(rows * out_row_stride), kSentinel);
                  kernel.fill_rows(out.data(), out_row_stride, src.data(), src_row_stride, rows, step, first, span,
                                   width, stride, phase_len);
                  std::vector<float> expected(out.size(), kSentinel);
                  for (std::int64_t r = 0; r < rows; ++r) {
                    float* row_out = expected.data() + r * out_row_stride;
                    const float* row_in = src.data() + r * src_row_stride;
                    for (std::int64_t i = 0; i < stride * phase_len; ++i) row_out[i] = 0.0f;
                    for (std::int64_t x = 0; x < span; ++x) {
                      const std::int64_t column = first + x;
                      if (column >= 0 && column < width)
                        row_out[(x % stride) * phase_len + x / stride] = row_in[column * step];
                    }
                  }
                  ASSERT_EQ(out, expected) << isa_name(kernel.isa) << " stride=" << stride << " step=" << step
                                           << " width=" << width << " span=" << span << " first=" << first
                                           << " phase_len=" << phase_len << " rows=" << rows;
                }
  }
}

// Names follow f32_igemm_<P>x<OCB>__<isa>, and every ISA has an entry.
TEST(ImplicitGemmKernels, ListNamesAndCoverage) {
  bool isa_seen[3] = {};
  for (const IgemmKernel& kernel : all_igemm_kernels()) {
    isa_seen[int(kernel.isa)] = true;
    EXPECT_EQ(kernel.name(kernel.pmax), kernel.family_name());
    EXPECT_EQ(kernel.name(3), "f32_igemm_3x" + std::to_string(kernel.ocb()) + "__" + isa_name(kernel.isa));
  }
  for (const bool seen : isa_seen) EXPECT_TRUE(seen);
}

}  // namespace
}  // namespace fastconv::detail
