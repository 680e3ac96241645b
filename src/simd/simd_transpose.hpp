// simd_transpose.hpp — compile-time unrolling, the in-register L x L transpose and the
// transposing block copy shared by the kernels that reorder data between layouts (implicit-GEMM
// weight packing and NCHW stores, GEMM A-panel packing). Plain GCC/Clang vector extensions: works
// for any SimdTraits vec type (include the ISA's simd_<isa>.hpp first), and every helper is
// force-inlined so register arrays indexed at compile time stay in registers.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "simd/simd_partial.hpp"
#include "simd/simd_traits.hpp"

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

// Transposing block copy: reads `rows` rows (row r at src + r * src_stride) of `columns`
// consecutive values as an L x L block (L = lanes; rows >= `rows` and values past `columns` read
// as zero), transposes it in registers and stores, for c < columns, lanes [0, STORE) of column c
// (value r = source row r) at out + c * out_stride. rows <= 0 stores zeros; 1 <= columns <= L.
template <Isa isa, typename T, int STORE>
FASTCONV_SIMD_INLINE inline void simd_transpose_block(const T* __restrict src, std::int64_t src_stride,
                                                      std::int64_t rows, std::int64_t columns,
                                                      T* __restrict out, std::int64_t out_stride) {
  using vec = typename SimdTraits<isa, T>::vec;
  constexpr int L = SimdTraits<isa, T>::lanes;
  static_assert(STORE >= 1 && STORE <= L, "a block stores 1..lanes values per column");
  vec m[L];
  simd_static_for<L>([&](auto r_c) FASTCONV_SIMD_INLINE {
    constexpr int r = decltype(r_c)::value;
    m[r] = vec{};
    if (r >= rows) return;
    const T* row = src + r * src_stride;
    if (columns == L) {
      std::memcpy(&m[r], row, sizeof(vec));
    } else if constexpr (std::is_same_v<T, float>) {
      m[r] = SimdPartial<isa>::template load<vec>(row, int(columns));  // a masked load where the ISA has one
    } else {
      alignas(64) T part[L] = {};
      for (std::int64_t i = 0; i < columns; ++i) part[i] = row[i];
      std::memcpy(&m[r], part, sizeof(vec));
    }
  });
  simd_transpose<vec, L>(m);
  simd_static_for<L>([&](auto c_c) FASTCONV_SIMD_INLINE {
    constexpr int c = decltype(c_c)::value;
    if (c < columns) std::memcpy(out + c * out_stride, &m[c], std::size_t(STORE) * sizeof(T));
  });
}

}  // namespace fastconv::detail
