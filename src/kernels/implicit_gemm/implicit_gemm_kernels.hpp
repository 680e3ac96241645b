// implicit_gemm_kernels.hpp — the implicit-GEMM convolution microkernel family: interface and
// the table expanded from implicit_gemm_kernels.inc.
//
// One kernel call computes a tile of P output pixels (consecutive along one output row) x OCB
// output channels (OCV vectors of `lanes` channels), reducing over `channels` input channels and
// `taps` kernel taps:
//   acc[p][j] = sum over c < channels, t < taps of
//               window[c * window_channel_stride + tap_offsets[t] + p] * weights[(c * taps + t) * OCB + j]
// (Combine = MultiplyAdd), then stores, for p < P and j < out_channels (<= OCB):
//   dst[p * dst_pixel_stride + j * dst_channel_stride] =
//       activation(acc[p][j] + bias[j] (if bias) + dst[...] (if accumulate))
// The window holds the input values the tile reads, already laid out so that the P pixels of one
// tap are consecutive (the engine copies it, zero-filling padding and de-interleaving strides).
// `weights` is zero-padded to OCB channels; `bias`, when given, has OCB readable entries.
// dst with unit channel stride (channels-last) is stored as channel vectors; dst with unit pixel
// stride (NCHW) is transposed in registers and stored as pixel vectors; any other strides are
// stored element by element.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "isa/cpu_isa.hpp"
#include "kernels/epilogue.hpp"

namespace fastconv::detail {

struct IgemmArgs {
  const float* window = nullptr;
  std::int64_t window_channel_stride = 0;
  const std::int64_t* tap_offsets = nullptr;  // `taps` offsets into one channel's window
  std::int64_t taps = 0;
  std::int64_t channels = 0;
  const float* weights = nullptr;  // [channels][taps][OCB]
  float* dst = nullptr;
  std::int64_t dst_pixel_stride = 1;
  std::int64_t dst_channel_stride = 1;
  std::int64_t out_channels = 0;  // channels stored, 1..OCB
  EpilogueParams<float> epilogue;
};

using IgemmKernelFn = void (*)(const IgemmArgs& args);

// Weight packing for the kernels (one per ISA): for j < filters and i < length,
//   out[i * out_stride + j] = src[j * filter_stride + i]
// i.e. `filters` rows of `length` consecutive floats transposed into columns of `out`, by
// lanes x lanes blocks in registers. Lanes j in [filters, round_up(filters, lanes)) are zeroed.
using IgemmPackFn = void (*)(const float* src, std::int64_t filter_stride, std::int64_t filters,
                             std::int64_t length, float* out, std::int64_t out_stride);

// Window rows copy for the kernels (one per ISA): for each of `rows` input rows (row i at
// `src + i * src_row_stride`, output row i at `out + i * out_row_stride`), the `span` input values
// starting at column `first` of the row of `width` values (`step` floats apart in memory, so
// `src + column * step`), de-interleaved by `stride` into phases of `phase_len` floats:
//   out[(x % stride) * phase_len + x / stride] = 0 <= first + x < width ? src[(first + x) * step] : 0
// for x < span; the rest of each phase (up to phase_len) is zeroed. The source is only read
// inside [0, width). AVX-512 uses masked loads (and lane permutes for stride 2) when step is 1.
using IgemmFillRowsFn = void (*)(float* out, std::int64_t out_row_stride, const float* src,
                                 std::int64_t src_row_stride, std::int64_t rows, std::int64_t step,
                                 std::int64_t first, std::int64_t span, std::int64_t width,
                                 std::int64_t stride, std::int64_t phase_len);

// A finished tile's store through the epilogue, as the kernels of the entry store theirs: for
// p < pixels, j < args.out_channels, tile[p * OCB + j] (64-byte aligned) goes to dst as the
// contract above says (bias, accumulate, activation). Inner operations' tiles use it when their
// merge and epilogue are the convolution's (kernels/custom_ops).
using IgemmStoreFn = void (*)(const float* tile, int pixels, const IgemmArgs& args);

// One entry of the list: kernels for P = 1..pmax.
struct IgemmKernel {
  Isa isa;
  int ocv;    // vectors of output channels
  int lanes;  // floats per vector
  int pmax;   // widest tile
  const IgemmKernelFn* by_pixels;  // by_pixels[P - 1]
  IgemmPackFn pack;                // the ISA's weight packing
  IgemmFillRowsFn fill_rows;       // the ISA's window rows copy
  IgemmStoreFn store;              // the entry's tile store
  int ocb() const { return ocv * lanes; }
  IgemmKernelFn get(int pixels) const { return by_pixels[pixels - 1]; }
  std::string name(int pixels) const;  // f32_igemm_<P>x<OCB>__<isa>
  std::string family_name() const;     // f32_igemm_<pmax>x<OCB>__<isa> (the widest)
};

// Every entry of implicit_gemm_kernels.inc, in list order (including ISAs this CPU lacks).
std::span<const IgemmKernel> all_igemm_kernels();

}  // namespace fastconv::detail
