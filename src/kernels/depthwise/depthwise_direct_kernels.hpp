// depthwise_direct_kernels.hpp — the depthwise engine's copy-free kernel for small planes at
// stride 1 whose output rows are as wide as the input rows ("same" width padding), on
// contiguous planes: output element i = oh * W + ow of the flat plane is
//   dst[i] = epilogue(sum over slices s, taps t of w[s][t] * (valid(i, t) ? src[s][i + off[t]] : 0))
// where valid(i, t) says the tap reads inside the image (row and column), precomputed per
// vector block as a lane mask: masks[block * taps + t]. The masked-off lanes load zeros without
// touching memory (AVX-512 fault suppression), so padding needs no copy and a non-finite weight
// still gives 0 * w = NaN where the reference does. Only AVX-512 has such masked loads: the
// other ISAs report no kernel and the engine uses the plane kernels (depthwise_plane_kernels.hpp).
#pragma once

#include <algorithm>
#include <cstdint>

#include "isa/cpu_isa.hpp"
#include "kernels/epilogue.hpp"

namespace fastconv::detail {

struct DirectLayout {
  std::int64_t count = 0;   // output elements of the plane: out_h * W
  std::int64_t blocks = 0;  // ceil(count / lanes)
  int taps = 0;             // per depth slice, (kh, kw) order
  const std::int64_t* tap_offsets = nullptr;  // input offset of each tap from the output index
  const std::uint16_t* masks = nullptr;       // [block][tap]: lanes reading inside the image
};

template <typename T>
using DepthwiseDirectFn = void (*)(T* dst, const T* const* slices, int slice_count,
                                   const T* weights, const DirectLayout& layout,
                                   const EpilogueParams<T>& epilogue, std::int64_t channel);

template <typename T>
struct DepthwiseDirectKernel {
  DepthwiseDirectFn<T> run = nullptr;  // null: not available for this ISA
  int lanes = 0;
};

template <Isa isa, typename T>
const DepthwiseDirectKernel<T>& depthwise_direct_kernel();

template <typename T>
const DepthwiseDirectKernel<T>& active_depthwise_direct_kernel() {
  switch (active_isa()) {
    case Isa::avx512: return depthwise_direct_kernel<Isa::avx512, T>();
    case Isa::avx2: return depthwise_direct_kernel<Isa::avx2, T>();
    case Isa::scalar: break;
  }
  return depthwise_direct_kernel<Isa::scalar, T>();
}

#if defined(FASTCONV_DEPTHWISE_KERNEL_TU) && defined(__AVX512F__)
template <typename T>
struct Avx512Masked {
  using vec = typename SimdTraits<Isa::avx512, T>::vec;
  static vec load(std::uint16_t mask, const T* p) {
    if constexpr (sizeof(T) == 4) return vec(_mm512_maskz_loadu_ps(__mmask16(mask), p));
    else return vec(_mm512_maskz_loadu_pd(__mmask8(mask), p));
  }
  static void store(std::uint16_t mask, T* p, vec v) {
    if constexpr (sizeof(T) == 4) _mm512_mask_storeu_ps(p, __mmask16(mask), __m512(v));
    else _mm512_mask_storeu_pd(p, __mmask8(mask), __m512d(v));
  }
};

// kBlocks consecutive vector blocks from `block`: all slices and taps, then the epilogue.
template <typename T, typename Combine, int kBlocks>
inline void direct_blocks(T* dst, const T* const* slices, int slice_count, const T* weights,
                          const DirectLayout& layout, const EpilogueParams<T>& epilogue, T bias,
                          std::int64_t block) {
  using Simd = SimdTraits<Isa::avx512, T>;
  using vec = typename Simd::vec;
  using Masked = Avx512Masked<T>;
  constexpr int kLanes = Simd::lanes;
  const int taps = layout.taps;
  const std::uint16_t* masks = layout.masks + block * taps;
  vec sum[kBlocks];
  for (int v = 0; v < kBlocks; ++v) sum[v] = vec{};
  for (int s = 0; s < slice_count; ++s) {
    const T* src = slices[s] + block * kLanes;
    for (int t = 0; t < taps; ++t) {
      const vec w = Simd::broadcast(weights[s * taps + t]);
      const T* p = src + layout.tap_offsets[t];
#pragma GCC unroll 4
      for (int v = 0; v < kBlocks; ++v)
        sum[v] = Combine::apply(sum[v], Masked::load(masks[v * taps + t], p + v * kLanes), w);
    }
  }
  const vec bias_vector = Simd::broadcast(bias);
#pragma GCC unroll 4
  for (int v = 0; v < kBlocks; ++v) {
    const std::int64_t first = (block + v) * kLanes;
    const std::int64_t n = std::min<std::int64_t>(kLanes, layout.count - first);
    const auto lanes = std::uint16_t(n == 16 ? 0xFFFF : (1u << n) - 1);
    vec value = sum[v] + bias_vector;
    if (epilogue.accumulate) value += Masked::load(lanes, dst + first);
    value = apply_activation(value, epilogue);
    Masked::store(lanes, dst + first, value);
  }
}

template <typename T, typename Combine>
void direct_plane(T* dst, const T* const* slices, int slice_count, const T* weights,
                  const DirectLayout& layout, const EpilogueParams<T>& epilogue,
                  std::int64_t channel) {
  const T bias = epilogue.bias ? epilogue.bias[channel] : T(0);
  std::int64_t block = 0;
  for (; block + 4 <= layout.blocks; block += 4)
    direct_blocks<T, Combine, 4>(dst, slices, slice_count, weights, layout, epilogue, bias, block);
  for (; block < layout.blocks; ++block)
    direct_blocks<T, Combine, 1>(dst, slices, slice_count, weights, layout, epilogue, bias, block);
}
#endif

#ifdef FASTCONV_DEPTHWISE_KERNEL_TU
template <Isa isa, typename T, typename Combine = MultiplyAdd>
DepthwiseDirectKernel<T> make_depthwise_direct_kernel() {
#ifdef __AVX512F__
  if constexpr (isa == Isa::avx512) return {&direct_plane<T, Combine>, SimdTraits<isa, T>::lanes};
#endif
  return {};
}
#endif

}  // namespace fastconv::detail
