// gemm_microkernel.hpp — the register-tiled GEMM inner kernel, written once for every ISA.
//
// Contract: C[0:MR, 0:NR] = (accumulate ? C : 0) + bias[i] (if bias) + sum_p A[p] * B[p], where
// packed_a holds kc columns of MR values (A's micro-panel, column-major) and packed_b kc rows
// of NR values (B's micro-panel, row-major), both zero-padded past the matrix edges. C is written with strides rs_c / cs_c (elements). The full tile is always
// written: the driver hands edge tiles a scratch tile.
//
// Plain C++ over GCC/Clang vector extensions; SimdTraits gives the vector type and broadcast.
// Each ISA's translation unit includes its simd_<isa>.hpp and this file and instantiates it
// with its own compiler flags and its own `isa` template argument, so the instantiations are
// distinct symbols (no one-definition-rule clash between ISAs).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "simd/simd_traits.hpp"
#include "simd/simd_transpose.hpp"

namespace fastconv::detail {

using f32 = float;
using f64 = double;

template <Isa isa, typename T, int MR, int NR>
void gemm_microkernel(std::int64_t kc, const T* __restrict packed_a, const T* __restrict packed_b,
                      T* __restrict c, std::int64_t rs_c, std::int64_t cs_c, bool accumulate,
                      const T* __restrict bias) {
  using Simd = SimdTraits<isa, T>;
  using vec = typename Simd::vec;
  constexpr int kLanes = Simd::lanes;
  static_assert(NR % kLanes == 0, "NR must be a multiple of the vector width");
  constexpr int kVectors = NR / kLanes;

  const T* a = packed_a;
  const T* b = packed_b;
  vec acc[MR][kVectors];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < kVectors; ++j) acc[i][j] = vec{};
  }

  for (std::int64_t p = 0; p < kc; ++p) {
    vec b_row[kVectors];
#pragma GCC unroll 8
    for (int j = 0; j < kVectors; ++j) std::memcpy(&b_row[j], b + j * kLanes, sizeof(vec));
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const vec a_value = Simd::broadcast(a[i]);
#pragma GCC unroll 8
      for (int j = 0; j < kVectors; ++j) acc[i][j] += a_value * b_row[j];
    }
    a += MR;
    b += NR;
  }

  if (bias != nullptr) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const vec bias_value = Simd::broadcast(bias[i]);
#pragma GCC unroll 8
      for (int j = 0; j < kVectors; ++j) acc[i][j] += bias_value;
    }
  }

  if (cs_c == 1) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      T* row = c + i * rs_c;
#pragma GCC unroll 8
      for (int j = 0; j < kVectors; ++j) {
        vec value = acc[i][j];
        if (accumulate) {
          vec old;
          std::memcpy(&old, row + j * kLanes, sizeof(vec));
          value += old;
        }
        std::memcpy(row + j * kLanes, &value, sizeof(vec));
      }
    }
  } else {
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < NR; ++j) {
        T& out = c[i * rs_c + j * cs_c];
        const T value = acc[i][j / kLanes][j % kLanes];
        out = accumulate ? out + value : value;
      }
    }
  }
}

// A-panel packing (GemmPackAFn in gemm.hpp): out[p * MR + i] = A[i][p] for i < rows, p < k;
// rows past `rows` are zero. With unit col_stride, blocks of L depth values (L = lanes) of up to
// L rows (one group of rows per L of MR) are loaded as vectors, transposed in registers, and each
// depth value's row segment is stored at once; otherwise element by element.
template <Isa isa, typename T, int MR>
void gemm_pack_a(const T* __restrict a, std::int64_t row_stride, std::int64_t col_stride,
                 std::int64_t rows, std::int64_t k, T* __restrict out) {
  constexpr int L = SimdTraits<isa, T>::lanes;
  if (col_stride != 1) {
    for (std::int64_t p = 0; p < k; ++p)
      for (std::int64_t i = 0; i < MR; ++i) out[p * MR + i] = i < rows ? a[i * row_stride + p * col_stride] : T(0);
    return;
  }
  constexpr int groups = (MR + L - 1) / L;
  for (std::int64_t p0 = 0; p0 < k; p0 += L) {
    const std::int64_t depth = std::min<std::int64_t>(L, k - p0);
    simd_static_for<groups>([&](auto g_c) FASTCONV_SIMD_INLINE {
      constexpr int i0 = decltype(g_c)::value * L;
      constexpr int width = std::min(L, MR - i0);  // rows of this group
      const T* group = i0 < rows ? a + i0 * row_stride + p0 : a;  // not read when past the rows
      simd_transpose_block<isa, T, width>(group, row_stride, std::min<std::int64_t>(width, rows - i0), depth,
                                          out + p0 * MR + i0, MR);
    });
  }
}

}  // namespace fastconv::detail

// Defines the named, non-template entry points of one list entry (microkernel, A packing), for
// the ISA's own TU.
#define FASTCONV_DEFINE_GEMM_KERNEL(isa, dtype, mr, nr)                                         \
  void dtype##_gemm_##mr##x##nr##__##isa(std::int64_t kc, const dtype* a, const dtype* b,       \
                                         dtype* c, std::int64_t rs_c, std::int64_t cs_c,        \
                                         bool accumulate, const dtype* bias) {                 \
    gemm_microkernel<Isa::isa, dtype, mr, nr>(kc, a, b, c, rs_c, cs_c, accumulate, bias);       \
  }                                                                                             \
  void dtype##_gemm_##mr##x##nr##__##isa##_pack_a(const dtype* a, std::int64_t row_stride,      \
                                                  std::int64_t col_stride, std::int64_t rows,   \
                                                  std::int64_t k, dtype* out) {                 \
    gemm_pack_a<Isa::isa, dtype, mr>(a, row_stride, col_stride, rows, k, out);                  \
  }
