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

#include <cstdint>
#include <cstring>

#include "simd/simd_traits.hpp"

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

}  // namespace fastconv::detail

// Defines the named, non-template entry point of one list entry, for the ISA's own TU.
#define FASTCONV_DEFINE_GEMM_KERNEL(isa, dtype, mr, nr)                                         \
  void dtype##_gemm_##mr##x##nr##__##isa(std::int64_t kc, const dtype* a, const dtype* b,       \
                                         dtype* c, std::int64_t rs_c, std::int64_t cs_c,        \
                                         bool accumulate, const dtype* bias) {                 \
    gemm_microkernel<Isa::isa, dtype, mr, nr>(kc, a, b, c, rs_c, cs_c, accumulate, bias);       \
  }
