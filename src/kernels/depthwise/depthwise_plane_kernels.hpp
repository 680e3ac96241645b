// depthwise_plane_kernels.hpp — the depthwise engine's plane kernels: a band of output rows of
// one channel computed as ONE flat vector loop over a zero-padded, polyphase copy of the input.
//
// The band's input rows are copied into a per-thread buffer (`fill`): for every (row phase ph,
// column phase pw) that some kernel tap uses, a phase plane of `phase_rows` rows of `pitch`
// elements holding padded input element ((first_out_row + r) * stride_h + ph, j * stride_w + pw)
// at [r][j], zeros where that is padding. Tap (kh, kw) at dilation (dh, dw) then reads phase
// (kh*dh % stride_h, kw*dw % stride_w) shifted by (kh*dh / stride_h, kw*dw / stride_w), so
// output element (b, ow) of the band, kept at acc[b * pitch + ow], is
//   acc[i] = sum over taps t of w[t] * buffer[tap_offsets[t] + i]
// — one long vector loop across row boundaries (`taps`); the columns ow >= out_w of each pitch
// are scratch and are dropped by `store`, which applies the epilogue (bias, accumulate,
// activation) while writing the rows out. Padded taps multiply real zeros, so a non-finite
// weight gives NaN exactly where the reference does.
//
// The kernels are templates instantiated once per ISA in depthwise_kernels_<isa>.cpp (from
// depthwise_kernels_isa.cpp.in, compiled with that ISA's flags); `taps` takes the combine
// operation (epilogue.hpp) as a template parameter. Buffers must have kPlaneSlack elements past
// what the layout uses: `taps` rounds its count up to whole vectors.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "isa/cpu_isa.hpp"
#include "kernels/epilogue.hpp"
#include "simd/simd_traits.hpp"

namespace fastconv::detail {

inline constexpr std::int64_t kPlaneSlack = 64;

struct PlaneLayout {
  // The source slice (one depth slice of one channel) and its padding.
  std::int64_t in_h = 0, in_w = 0, pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1;
  std::int64_t src_row_step = 0, src_col_step = 0;
  // The polyphase buffer: phase_count planes of phase_rows x pitch.
  std::int64_t pitch = 0, phase_rows = 0;
  int phase_count = 0;
  const std::int64_t* phase_row = nullptr;  // ph of each phase plane
  const std::int64_t* phase_col = nullptr;  // pw of each phase plane
  // Taps of one kernel slice, in (kh, kw) order: buffer offset of each.
  int taps = 0;
  const std::int64_t* tap_offsets = nullptr;
  // The output rows.
  std::int64_t out_w = 0, dst_row_step = 0, dst_col_step = 0;
};

template <typename T>
struct DepthwisePlaneKernels {
  // buffer <- the phase planes for output rows from first_out_row; src null: all zeros.
  void (*fill)(T* buffer, const PlaneLayout& layout, const T* src, std::int64_t first_out_row);
  // acc[i] = (accumulate ? acc[i] : 0) + sum_t weights[t] * buffer[tap_offsets[t] + i], i < count.
  void (*taps)(T* acc, std::int64_t count, const T* buffer, const PlaneLayout& layout,
               const T* weights, bool accumulate);
  // rows output rows at dst (row step dst_row_step) <- epilogue(acc rows), channel's bias.
  void (*store)(T* dst, const PlaneLayout& layout, const T* acc, std::int64_t rows,
                const EpilogueParams<T>& epilogue, std::int64_t channel);
};

template <Isa isa, typename T>
const DepthwisePlaneKernels<T>& depthwise_plane_kernels();

template <typename T>
const DepthwisePlaneKernels<T>& active_depthwise_plane_kernels() {
  switch (active_isa()) {
    case Isa::avx512: return depthwise_plane_kernels<Isa::avx512, T>();
    case Isa::avx2: return depthwise_plane_kernels<Isa::avx2, T>();
    case Isa::scalar: break;
  }
  return depthwise_plane_kernels<Isa::scalar, T>();
}

// The kernel templates; include only from the per-ISA translation units (after simd_<isa>.hpp).
#ifdef FASTCONV_DEPTHWISE_KERNEL_TU

// The first n (< lanes) elements of a vector: masked with AVX-512, element by element otherwise.
template <Isa isa, typename T>
struct PartialVector {
  using vec = typename SimdTraits<isa, T>::vec;
  static vec load(const T* p, std::int64_t n) {
#ifdef __AVX512F__
    if constexpr (isa == Isa::avx512) {
      if constexpr (sizeof(T) == 4) return vec(_mm512_maskz_loadu_ps(__mmask16((1u << n) - 1), p));
      else return vec(_mm512_maskz_loadu_pd(__mmask8((1u << n) - 1), p));
    }
#endif
    vec v{};
    for (std::int64_t i = 0; i < n; ++i) v[i] = p[i];
    return v;
  }
  static void store(T* p, vec v, std::int64_t n) {
#ifdef __AVX512F__
    if constexpr (isa == Isa::avx512) {
      if constexpr (sizeof(T) == 4) _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1), __m512(v));
      else _mm512_mask_storeu_pd(p, __mmask8((1u << n) - 1), __m512d(v));
      return;
    }
#endif
    for (std::int64_t i = 0; i < n; ++i) p[i] = v[i];
  }
};

// dst[j] = src ? src[j * step] : 0, j < count.
template <Isa isa, typename T>
inline void copy_row(T* __restrict dst, const T* __restrict src, std::int64_t step,
                     std::int64_t count) {
  using Simd = SimdTraits<isa, T>;
  using vec = typename Simd::vec;
  constexpr int kLanes = Simd::lanes;
  if (src == nullptr || step == 1) {
    std::int64_t j = 0;
    for (; j + kLanes <= count; j += kLanes) {
      vec v{};
      if (src) std::memcpy(&v, src + j, sizeof(vec));
      std::memcpy(dst + j, &v, sizeof(vec));
    }
    if (j < count)
      PartialVector<isa, T>::store(dst + j, src ? PartialVector<isa, T>::load(src + j, count - j) : vec{},
                                   count - j);
  } else if (step == 2) {
    for (std::int64_t j = 0; j < count; ++j) dst[j] = src[2 * j];
  } else {
    for (std::int64_t j = 0; j < count; ++j) dst[j] = src[j * step];
  }
}

// Writes only the columns of each phase row that lie inside the image (or the zeros of padded
// rows there): the columns that are always padding were zeroed when the buffer was made and
// stay zero.
template <Isa isa, typename T>
void plane_fill(T* __restrict buffer, const PlaneLayout& layout, const T* __restrict src,
                std::int64_t first_out_row) {
  const std::int64_t pitch = layout.pitch, sw = layout.stride_w;
  for (int p = 0; p < layout.phase_count; ++p) {
    const std::int64_t ph = layout.phase_row[p], pw = layout.phase_col[p];
    // Columns j whose padded column j * sw + pw lies inside the image: [j_lo, j_hi).
    const std::int64_t before = layout.pad_w - pw;  // input column = j * sw - before
    const std::int64_t j_lo = std::clamp<std::int64_t>(before <= 0 ? 0 : (before + sw - 1) / sw, 0, pitch);
    const std::int64_t past = layout.in_w + before;
    const std::int64_t j_hi = std::clamp<std::int64_t>(past <= 0 ? 0 : (past + sw - 1) / sw, j_lo, pitch);
    const std::int64_t step = sw * layout.src_col_step;
    T* plane = buffer + p * layout.phase_rows * pitch + j_lo;
    const T* first = src == nullptr ? nullptr : src + (j_lo * sw - before) * layout.src_col_step;
    for (std::int64_t r = 0; r < layout.phase_rows; ++r) {
      const std::int64_t ih = (first_out_row + r) * layout.stride_h + ph - layout.pad_h;
      const bool inside = first != nullptr && ih >= 0 && ih < layout.in_h;
      copy_row<isa, T>(plane + r * pitch, inside ? first + ih * layout.src_row_step : nullptr, step,
                       j_hi - j_lo);
    }
  }
}

template <Isa isa, typename T, typename Combine>
void plane_taps(T* __restrict acc, std::int64_t count, const T* __restrict buffer,
                const PlaneLayout& layout, const T* __restrict weights, bool accumulate) {
  using Simd = SimdTraits<isa, T>;
  using vec = typename Simd::vec;
  constexpr int kLanes = Simd::lanes;
  constexpr int kVectors = 4;  // independent accumulators per block
  static_assert(kVectors * kLanes <= kPlaneSlack);
  const int taps = layout.taps;
  const std::int64_t* offsets = layout.tap_offsets;
  auto load = [](const T* p) {
    vec v;
    std::memcpy(&v, p, sizeof(vec));
    return v;
  };
  std::int64_t i = 0;
  for (; i + kVectors * kLanes <= count + kLanes - 1; i += kVectors * kLanes) {
    vec sum[kVectors];
#pragma GCC unroll 4
    for (int v = 0; v < kVectors; ++v) sum[v] = accumulate ? load(acc + i + v * kLanes) : vec{};
    for (int t = 0; t < taps; ++t) {
      const vec w = Simd::broadcast(weights[t]);
      const T* s = buffer + offsets[t] + i;
#pragma GCC unroll 4
      for (int v = 0; v < kVectors; ++v) sum[v] = Combine::apply(sum[v], load(s + v * kLanes), w);
    }
#pragma GCC unroll 4
    for (int v = 0; v < kVectors; ++v) std::memcpy(acc + i + v * kLanes, &sum[v], sizeof(vec));
  }
  for (; i < count; i += kLanes) {
    vec sum = accumulate ? load(acc + i) : vec{};
    for (int t = 0; t < taps; ++t)
      sum = Combine::apply(sum, load(buffer + offsets[t] + i), Simd::broadcast(weights[t]));
    std::memcpy(acc + i, &sum, sizeof(vec));
  }
}

// One row: dst[j * step] = activation(acc[j] + bias (+ dst[j * step])), j < count.
template <Isa isa, typename T, Activation kActivation>
inline void store_plane_row(T* __restrict dst, std::int64_t step, const T* __restrict acc,
                            std::int64_t count, T bias, bool accumulate, T lo, T hi) {
  using Simd = SimdTraits<isa, T>;
  using vec = typename Simd::vec;
  constexpr int kLanes = Simd::lanes;
  auto finish = [&](auto value) {
    using V = decltype(value);
    if constexpr (kActivation == Activation::relu) {
      const V zero = V{} * T(0);
      value = value > zero ? value : zero;
    }
    if constexpr (kActivation == Activation::clamp) {
      const V low = V{} + lo, high = V{} + hi;
      value = value < low ? low : value;
      value = value > high ? high : value;
    }
    return value;
  };
  if (step == 1) {
    const vec bias_vector = Simd::broadcast(bias);
    std::int64_t j = 0;
    for (; j < count; j += kLanes) {
      const std::int64_t n = std::min<std::int64_t>(kLanes, count - j);
      vec value;
      if (n == kLanes) std::memcpy(&value, acc + j, sizeof(vec));
      else value = PartialVector<isa, T>::load(acc + j, n);
      value += bias_vector;
      if (accumulate) {
        vec old;
        if (n == kLanes) std::memcpy(&old, dst + j, sizeof(vec));
        else old = PartialVector<isa, T>::load(dst + j, n);
        value += old;
      }
      value = finish(value);
      if (n == kLanes) std::memcpy(dst + j, &value, sizeof(vec));
      else PartialVector<isa, T>::store(dst + j, value, n);
    }
  } else {
    for (std::int64_t j = 0; j < count; ++j) {
      T value = acc[j] + bias + (accumulate ? dst[j * step] : T(0));
      if constexpr (kActivation == Activation::relu) value = std::max(value, T(0));
      if constexpr (kActivation == Activation::clamp) value = std::min(std::max(value, lo), hi);
      dst[j * step] = value;
    }
  }
}

template <Isa isa, typename T>
void plane_store(T* dst, const PlaneLayout& layout, const T* acc, std::int64_t rows,
                 const EpilogueParams<T>& epilogue, std::int64_t channel) {
  const T bias = epilogue.bias ? epilogue.bias[channel] : T(0);
  for (std::int64_t r = 0; r < rows; ++r) {
    T* d = dst + r * layout.dst_row_step;
    const T* a = acc + r * layout.pitch;
    const std::int64_t n = layout.out_w, step = layout.dst_col_step;
    const bool add = epilogue.accumulate;
    switch (epilogue.activation) {
      case Activation::none:
        store_plane_row<isa, T, Activation::none>(d, step, a, n, bias, add, T(0), T(0));
        break;
      case Activation::relu:
        store_plane_row<isa, T, Activation::relu>(d, step, a, n, bias, add, T(0), T(0));
        break;
      case Activation::clamp:
        store_plane_row<isa, T, Activation::clamp>(d, step, a, n, bias, add, epilogue.clamp_min,
                                                   epilogue.clamp_max);
        break;
    }
  }
}

template <Isa isa, typename T, typename Combine = MultiplyAdd>
DepthwisePlaneKernels<T> make_depthwise_plane_kernels() {
  return {&plane_fill<isa, T>, &plane_taps<isa, T, Combine>, &plane_store<isa, T>};
}
#endif

}  // namespace fastconv::detail
