// implicit_gemm_microkernel.hpp — the implicit-GEMM convolution microkernel, written once for
// every ISA (contract in implicit_gemm_kernels.hpp). Include only from the per-ISA translation
// units (generated from implicit_gemm_kernels_isa.cpp.in), after that ISA's simd_<isa>.hpp: each
// instantiates it with its own `isa` template argument and compiler flags, so the ISAs'
// instantiations are distinct symbols.
//
// Registers: acc[P][OCV] vectors of output channels; per kernel tap, OCV weight vectors are
// loaded once and each of the P window values is broadcast once (AVX-512 folds the broadcast
// into the FMA's memory operand). The finished tile is stored through the epilogue: directly as
// channel vectors for channels-last dst, transposed in registers (log2(lanes) stages of
// two-source lane shuffles) into pixel vectors for NCHW dst.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/epilogue.hpp"
#include "kernels/implicit_gemm/implicit_gemm_kernels.hpp"
#include "simd/simd_partial.hpp"
#include "simd/simd_traits.hpp"
#include "simd/simd_transpose.hpp"

namespace fastconv::detail {

// Stores a finished tile of `pixels` x OCV vectors (acc[p * OCV + v], in memory: the microkernel
// spills its registers for this call) through the epilogue. Templated on the ISA and OCV only,
// so the P kernels of an entry share one copy.
template <Isa isa, int OCV>
void igemm_store_tile(const typename SimdTraits<isa, float>::vec* acc, int pixels, const IgemmArgs& args) {
  using Simd = SimdTraits<isa, float>;
  using vec = typename Simd::vec;
  constexpr int L = Simd::lanes;
  const EpilogueParams<float>& epilogue = args.epilogue;
  const std::int64_t out_channels = args.out_channels;
  float* const dst = args.dst;

  if (args.dst_channel_stride == 1) {  // channels-last: channel vectors
    for (int p = 0; p < pixels; ++p) {
      float* out = dst + p * args.dst_pixel_stride;
      for (int v = 0; v < OCV; ++v) {
        const std::int64_t base = std::int64_t(v) * L;
        if (base >= out_channels) break;
        vec value = acc[p * OCV + v];
        if (epilogue.bias != nullptr) {
          vec bias;
          std::memcpy(&bias, epilogue.bias + base, sizeof(vec));
          value += bias;
        }
        const int channels = int(std::min<std::int64_t>(L, out_channels - base));
        if (epilogue.accumulate) value += SimdPartial<isa>::template load<vec>(out + base, channels);
        SimdPartial<isa>::store(out + base, apply_activation(value, epilogue), channels);
      }
    }
  } else if (args.dst_pixel_stride == 1) {  // NCHW: transpose into pixel vectors
    const std::int64_t channel_stride = args.dst_channel_stride;
    for (int v = 0; v < OCV; ++v) {
      if (std::int64_t(v) * L >= out_channels) break;
      const int channels = int(std::min<std::int64_t>(L, out_channels - std::int64_t(v) * L));
      for (int first_pixel = 0; first_pixel < pixels; first_pixel += L) {
        const int rows = std::min(L, pixels - first_pixel);
        vec m[L];
        simd_static_for<L>([&](auto r_c) FASTCONV_SIMD_INLINE {
          constexpr int r = decltype(r_c)::value;
          m[r] = r < rows ? acc[(first_pixel + r) * OCV + v] : vec{};
        });
        simd_transpose<vec, L>(m);
        simd_static_for<L>([&](auto j_c) FASTCONV_SIMD_INLINE {
          constexpr int j = decltype(j_c)::value;
          if (j >= channels) return;
          const std::int64_t channel = std::int64_t(v) * L + j;
          float* out = dst + channel * channel_stride + first_pixel;
          vec value = m[j];
          if (epilogue.bias != nullptr) value += Simd::broadcast(epilogue.bias[channel]);
          if (epilogue.accumulate) value += SimdPartial<isa>::template load<vec>(out, rows);
          SimdPartial<isa>::store(out, apply_activation(value, epilogue), rows);
        });
      }
    }
  } else {  // any other strides: element by element
    for (int p = 0; p < pixels; ++p) {
      const float* tile = reinterpret_cast<const float*>(acc + p * OCV);
      for (std::int64_t channel = 0; channel < out_channels; ++channel) {
        float result = tile[channel];
        if (epilogue.bias != nullptr) result += epilogue.bias[channel];
        float& out = dst[p * args.dst_pixel_stride + channel * args.dst_channel_stride];
        if (epilogue.accumulate) result += out;
        out = apply_activation_scalar(result, epilogue);
      }
    }
  }
}

template <Isa isa, int P, int OCV, typename Combine>
void igemm_microkernel(const IgemmArgs& args) {
  using Simd = SimdTraits<isa, float>;
  using vec = typename Simd::vec;
  constexpr int L = Simd::lanes;
  constexpr int OCB = OCV * L;

  vec acc[P][OCV];
#pragma GCC unroll 32
  for (int p = 0; p < P; ++p) {
#pragma GCC unroll 8
    for (int v = 0; v < OCV; ++v) acc[p][v] = vec{};
  }

  const float* __restrict weights = args.weights;
  const std::int64_t* __restrict tap_offsets = args.tap_offsets;
  const std::int64_t taps = args.taps;
  for (std::int64_t c = 0; c < args.channels; ++c) {
    const float* __restrict channel = args.window + c * args.window_channel_stride;
    for (std::int64_t t = 0; t < taps; ++t) {
      const float* __restrict x = channel + tap_offsets[t];
      vec w[OCV];
#pragma GCC unroll 8
      for (int v = 0; v < OCV; ++v) std::memcpy(&w[v], weights + v * L, sizeof(vec));
#pragma GCC unroll 32
      for (int p = 0; p < P; ++p) {
        const vec input = Simd::broadcast(x[p]);
#pragma GCC unroll 8
        for (int v = 0; v < OCV; ++v) acc[p][v] = Combine::apply(acc[p][v], input, w[v]);
      }
      weights += OCB;
    }
  }
  igemm_store_tile<isa, OCV>(&acc[0][0], P, args);
}

// IgemmPackFn (implicit_gemm_kernels.hpp): lanes x lanes blocks loaded as rows (one filter's
// consecutive values each), transposed in registers, stored as columns (one value of every
// filter each). Short edges go through zero-filled rows and partial row loads.
template <Isa isa>
void igemm_pack_transpose(const float* __restrict src, std::int64_t filter_stride, std::int64_t filters,
                          std::int64_t length, float* __restrict out, std::int64_t out_stride) {
  constexpr int L = SimdTraits<isa, float>::lanes;
  for (std::int64_t j0 = 0; j0 < filters; j0 += L)
    for (std::int64_t i0 = 0; i0 < length; i0 += L)
      simd_transpose_block<isa, float, L>(src + j0 * filter_stride + i0, filter_stride, filters - j0,
                                          std::min<std::int64_t>(L, length - i0), out + i0 * out_stride + j0,
                                          out_stride);
}

// One row of IgemmFillRowsFn (implicit_gemm_kernels.hpp), portable: per phase, zeros, the in-row values
// (a plain copy at unit stride and step, which the compiler vectorises), zeros.
FASTCONV_SIMD_INLINE inline void igemm_fill_row_portable(float* __restrict out, const float* __restrict row, std::int64_t step,
                                    std::int64_t first, std::int64_t span, std::int64_t width,
                                    std::int64_t stride, std::int64_t phase_len) {
  for (std::int64_t phase = 0; phase < stride; ++phase) {
    float* dst = out + phase * phase_len;
    // Columns start + j * stride for j < count; inside [0, width) for j in [lo, hi).
    const std::int64_t count = std::clamp<std::int64_t>((span - phase + stride - 1) / stride, 0, phase_len);
    const std::int64_t start = first + phase;
    const std::int64_t lo = std::clamp<std::int64_t>(start < 0 ? (-start + stride - 1) / stride : 0, 0, count);
    const std::int64_t hi = std::clamp<std::int64_t>(width > start ? (width - start + stride - 1) / stride : 0, lo, count);
    for (std::int64_t j = 0; j < lo; ++j) dst[j] = 0.0f;
    const std::int64_t jump = stride * step;
    if (jump == 1) {
      const float* in = row + start;
      for (std::int64_t j = lo; j < hi; ++j) dst[j] = in[j];
    } else {
      for (std::int64_t j = lo; j < hi; ++j) dst[j] = row[(start + j * stride) * step];
    }
    for (std::int64_t j = hi; j < phase_len; ++j) dst[j] = 0.0f;
  }
}

template <Isa isa>
FASTCONV_SIMD_INLINE inline void igemm_fill_row(float* __restrict out, const float* __restrict row, std::int64_t step, std::int64_t first,
                    std::int64_t span, std::int64_t width, std::int64_t stride, std::int64_t phase_len) {
#if defined(__AVX512F__)
  if constexpr (isa == Isa::avx512) {
    // Lanes [lo, hi) of a 16-column group starting at `column` lie inside the row and the span.
    auto lane_mask = [&](std::int64_t column, std::int64_t x) {
      const std::int64_t lo = std::clamp<std::int64_t>(-column, 0, 16);
      const std::int64_t hi = std::clamp<std::int64_t>(std::min(width - column, span - x), lo, 16);
      return __mmask16(((1u << hi) - 1u) & ~((1u << lo) - 1u));
    };
    if (step == 1 && stride == 1) {
      // Zeros, the in-row values with whole unaligned vectors (the last one overlapping the one
      // before; masked loads with inactive lanes run several times slower here), zeros.
      const std::int64_t lo = std::clamp<std::int64_t>(-first, 0, span);
      const std::int64_t hi = std::clamp<std::int64_t>(width - first, lo, span);
      const std::int64_t n = hi - lo;
      for (std::int64_t x = 0; x < lo; ++x) out[x] = 0.0f;
      const float* in = row + first + lo;
      float* to = out + lo;
      if (n >= 16) {
        std::int64_t i = 0;
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(to + i, _mm512_loadu_ps(in + i));
        if (i < n) _mm512_storeu_ps(to + n - 16, _mm512_loadu_ps(in + n - 16));
      } else if (n > 0) {
        const __mmask16 part = __mmask16((1u << n) - 1u);
        _mm512_mask_storeu_ps(to, part, _mm512_maskz_loadu_ps(part, in));
      }
      std::int64_t x = hi;
      for (; x + 16 <= phase_len; x += 16) _mm512_storeu_ps(out + x, _mm512_setzero_ps());
      if (x < phase_len) _mm512_mask_storeu_ps(out + x, __mmask16((1u << (phase_len - x)) - 1u), _mm512_setzero_ps());
      return;
    }
    if (step == 1 && stride == 2) {
      // 32 consecutive columns -> 16 of phase 0 (even) and 16 of phase 1 (odd).
      const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
      const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
      for (std::int64_t j = 0; j < phase_len; j += 16) {
        const std::int64_t x = 2 * j, column = first + x;
        const bool inside = column >= 0 && column + 32 <= width && x + 32 <= span;
        const __m512 low = inside ? _mm512_loadu_ps(row + column)
                                  : _mm512_maskz_loadu_ps(lane_mask(column, x), row + column);
        const __m512 high = inside ? _mm512_loadu_ps(row + column + 16)
                                   : _mm512_maskz_loadu_ps(lane_mask(column + 16, x + 16), row + column + 16);
        const __mmask16 keep = phase_len - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (phase_len - j)) - 1u);
        _mm512_mask_storeu_ps(out + j, keep, _mm512_permutex2var_ps(low, even, high));
        _mm512_mask_storeu_ps(out + phase_len + j, keep, _mm512_permutex2var_ps(low, odd, high));
      }
      return;
    }
  }
#endif
  igemm_fill_row_portable(out, row, step, first, span, width, stride, phase_len);
}

// IgemmFillRowsFn (implicit_gemm_kernels.hpp) for the rows whose phase fits one vector, at unit
// stride and step (7x7 and 14x14 planes): per row one masked load of the lanes inside the row
// and the span, one store of the whole phase, with the masks computed once for all rows. The
// general path's per-row zero fills around a partial copy made the window copy 16% of
// resnext_g32_c1024_7; this is 11-13% faster on the ResNeXt 7x7 and 14x14 layers, 1-2% on
// res4_3x3 and res5_3x3. Returns false, copying nothing, for other rows or ISAs.
template <Isa isa>
inline bool igemm_fill_short_rows(float* __restrict out, std::int64_t out_row_stride, const float* __restrict src,
                                  std::int64_t src_row_stride, std::int64_t rows, std::int64_t step,
                                  std::int64_t first, std::int64_t span, std::int64_t width, std::int64_t stride,
                                  std::int64_t phase_len) {
#if defined(__AVX512F__)
  if constexpr (isa == Isa::avx512) {
    if (step != 1 || stride != 1 || phase_len > 16) return false;
    const std::int64_t lo = std::clamp<std::int64_t>(-first, 0, std::min<std::int64_t>(span, 16));
    const std::int64_t hi = std::clamp<std::int64_t>(std::min(width - first, span), lo, 16);
    const __mmask16 inside = __mmask16(((1u << hi) - 1u) & ~((1u << lo) - 1u));
    const __mmask16 phase = __mmask16((1u << phase_len) - 1u);
    // Lane x reads row[first + x]. The address is formed as an integer because it may lie before
    // the row: those lanes are masked off and never read.
    const std::uintptr_t offset = std::uintptr_t(first * std::int64_t(sizeof(float)));
    for (std::int64_t i = 0; i < rows; ++i) {
      const auto row = reinterpret_cast<std::uintptr_t>(src + i * src_row_stride);
      const auto lane0 = reinterpret_cast<const float*>(row + offset);
      _mm512_mask_storeu_ps(out + i * out_row_stride, phase, _mm512_maskz_loadu_ps(inside, lane0));
    }
    return true;
  }
#endif
  (void)out, (void)out_row_stride, (void)src, (void)src_row_stride, (void)rows, (void)step, (void)first;
  (void)span, (void)width, (void)stride, (void)phase_len;
  return false;
}

// The entry's kernels for P = 1..PMAX, indexed by P - 1.
template <Isa isa, int OCV, int PMAX, typename Combine>
constexpr std::array<IgemmKernelFn, PMAX> igemm_kernel_table() {
  return []<int... I>(std::integer_sequence<int, I...>) {
    return std::array<IgemmKernelFn, PMAX>{&igemm_microkernel<isa, I + 1, OCV, Combine>...};
  }(std::make_integer_sequence<int, PMAX>{});
}

}  // namespace fastconv::detail
