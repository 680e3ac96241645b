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
#include "simd/simd_traits.hpp"

namespace fastconv::detail {

// Calls f(std::integral_constant<int, i>) for i = 0..N-1, unrolled at compile time.
template <int N, typename F>
inline void igemm_static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (f(std::integral_constant<int, I>{}), ...);
  }(std::make_integer_sequence<int, N>{});
}

// One stage of the in-register transpose: for every row pair (i, i | B), swaps lane c of row i
// (c & B set) with lane c ^ B of row i | B. After the stages B = L/2, ..., 1 the L x L block is
// transposed.
template <typename vec, int L, int B, int... C>
inline void igemm_transpose_stage(vec (&m)[L], std::integer_sequence<int, C...>) {
  igemm_static_for<L>([&](auto i_c) {
    constexpr int i = decltype(i_c)::value;
    if constexpr ((i & B) == 0) {
      constexpr int j = i | B;
      const vec first = __builtin_shufflevector(m[i], m[j], ((C & B) ? L + (C ^ B) : C)...);
      const vec second = __builtin_shufflevector(m[i], m[j], ((C & B) ? L + C : (C | B))...);
      m[i] = first;
      m[j] = second;
    }
  });
}

template <typename vec, int L>
inline void igemm_transpose(vec (&m)[L]) {
  constexpr int stages = std::countr_zero(unsigned(L));
  igemm_static_for<stages>([&](auto s_c) {
    constexpr int B = L >> (decltype(s_c)::value + 1);
    igemm_transpose_stage<vec, L, B>(m, std::make_integer_sequence<int, L>{});
  });
}

template <Isa isa, int P, int OCV>
inline void igemm_store(typename SimdTraits<isa, float>::vec (&acc)[P][OCV], const IgemmArgs& args) {
  using Simd = SimdTraits<isa, float>;
  using vec = typename Simd::vec;
  constexpr int L = Simd::lanes;
  const EpilogueParams<float>& epilogue = args.epilogue;
  const std::int64_t out_channels = args.out_channels;
  float* const dst = args.dst;

  if (args.dst_channel_stride == 1) {  // channels-last: channel vectors
#pragma GCC unroll 32
    for (int p = 0; p < P; ++p) {
      float* out = dst + p * args.dst_pixel_stride;
#pragma GCC unroll 8
      for (int v = 0; v < OCV; ++v) {
        const std::int64_t base = std::int64_t(v) * L;
        if (base >= out_channels) break;
        vec value = acc[p][v];
        if (epilogue.bias != nullptr) {
          vec bias;
          std::memcpy(&bias, epilogue.bias + base, sizeof(vec));
          value += bias;
        }
        if (out_channels - base >= L) {
          if (epilogue.accumulate) {
            vec old;
            std::memcpy(&old, out + base, sizeof(vec));
            value += old;
          }
          value = apply_activation(value, epilogue);
          std::memcpy(out + base, &value, sizeof(vec));
        } else {
          for (std::int64_t lane = 0; lane < out_channels - base; ++lane) {
            float result = value[lane];
            if (epilogue.accumulate) result += out[base + lane];
            out[base + lane] = apply_activation_scalar(result, epilogue);
          }
        }
      }
    }
  } else if (args.dst_pixel_stride == 1) {  // NCHW: transpose into pixel vectors
    const std::int64_t channel_stride = args.dst_channel_stride;
    igemm_static_for<OCV>([&](auto v_c) {
      constexpr int v = decltype(v_c)::value;
      if (std::int64_t(v) * L >= out_channels) return;
      const int channels = int(std::min<std::int64_t>(L, out_channels - std::int64_t(v) * L));
      igemm_static_for<(P + L - 1) / L>([&](auto block_c) {
        constexpr int first_pixel = decltype(block_c)::value * L;
        constexpr int rows = std::min(L, P - first_pixel);
        vec m[L];
#pragma GCC unroll 16
        for (int r = 0; r < L; ++r) m[r] = r < rows ? acc[first_pixel + r][v] : vec{};
        igemm_transpose<vec, L>(m);
        for (int j = 0; j < channels; ++j) {
          const std::int64_t channel = std::int64_t(v) * L + j;
          float* out = dst + channel * channel_stride + first_pixel;
          vec value = m[j];
          if (epilogue.bias != nullptr) value += Simd::broadcast(epilogue.bias[channel]);
          if (epilogue.accumulate) {
            vec old{};
            std::memcpy(&old, out, sizeof(float) * rows);
            value += old;
          }
          value = apply_activation(value, epilogue);
          std::memcpy(out, &value, sizeof(float) * rows);
        }
      });
    });
  } else {  // any other strides: element by element
    for (int p = 0; p < P; ++p) {
      for (std::int64_t channel = 0; channel < out_channels; ++channel) {
        float result = acc[p][channel / L][channel % L];
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
  igemm_store<isa, P, OCV>(acc, args);
}

// The entry's kernels for P = 1..PMAX, indexed by P - 1.
template <Isa isa, int OCV, int PMAX, typename Combine>
constexpr std::array<IgemmKernelFn, PMAX> igemm_kernel_table() {
  return []<int... I>(std::integer_sequence<int, I...>) {
    return std::array<IgemmKernelFn, PMAX>{&igemm_microkernel<isa, I + 1, OCV, Combine>...};
  }(std::make_integer_sequence<int, PMAX>{});
}

}  // namespace fastconv::detail
