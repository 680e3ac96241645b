// simd_transpose.hpp — compile-time unrolling and the in-register L x L transpose shared by the
// kernels that reorder data between layouts (implicit-GEMM weight packing and NCHW stores, GEMM
// A-panel packing). Plain GCC/Clang vector extensions: works for any SimdTraits vec type, and
// every helper is force-inlined so register arrays indexed at compile time stay in registers.
#pragma once

#include <bit>
#include <type_traits>
#include <utility>

#define FASTCONV_SIMD_INLINE __attribute__((always_inline))

namespace fastconv::detail {

// Calls f(std::integral_constant<int, i>) for i = 0..N-1, unrolled at compile time.
template <int N, typename F>
FASTCONV_SIMD_INLINE inline void simd_static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) FASTCONV_SIMD_INLINE {
    (f(std::integral_constant<int, I>{}), ...);
  }(std::make_integer_sequence<int, N>{});
}

// One stage of the transpose: for every row pair (i, i | B), swaps lane c of row i (c & B set)
// with lane c ^ B of row i | B. After the stages B = L/2, ..., 1 the L x L block is transposed.
template <typename vec, int L, int B, int... C>
FASTCONV_SIMD_INLINE inline void simd_transpose_stage(vec (&m)[L], std::integer_sequence<int, C...>) {
  simd_static_for<L>([&](auto i_c) FASTCONV_SIMD_INLINE {
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

// Transposes the L x L block m (row r = m[r]; L a power of two): log2(L) stages of L two-source
// lane shuffles.
template <typename vec, int L>
FASTCONV_SIMD_INLINE inline void simd_transpose(vec (&m)[L]) {
  constexpr int stages = std::countr_zero(unsigned(L));
  simd_static_for<stages>([&](auto s_c) FASTCONV_SIMD_INLINE {
    constexpr int B = L >> (decltype(s_c)::value + 1);
    simd_transpose_stage<vec, L, B>(m, std::make_integer_sequence<int, L>{});
  });
}

}  // namespace fastconv::detail
