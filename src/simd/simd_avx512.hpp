// simd_avx512.hpp — SimdTraits for AVX-512F (512-bit vectors). Include only from TUs built
// with -mavx512f.
#pragma once

#include <immintrin.h>

#include "simd/simd_traits.hpp"

namespace fastconv::detail {

template <>
struct SimdTraits<Isa::avx512, float> {
  typedef float vec __attribute__((vector_size(64)));
  static constexpr int lanes = 16;
  static vec broadcast(float value) { return vec(_mm512_set1_ps(value)); }
};

template <>
struct SimdTraits<Isa::avx512, double> {
  typedef double vec __attribute__((vector_size(64)));
  static constexpr int lanes = 8;
  static vec broadcast(double value) { return vec(_mm512_set1_pd(value)); }
};

}  // namespace fastconv::detail
