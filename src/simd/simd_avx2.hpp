// simd_avx2.hpp — SimdTraits for AVX2 + FMA (256-bit vectors). Include only from TUs built
// with -mavx2 -mfma.
#pragma once

#include <immintrin.h>

#include "simd/simd_traits.hpp"

namespace fastconv::detail {

template <>
struct SimdTraits<Isa::avx2, float> {
  typedef float vec __attribute__((vector_size(32)));
  static constexpr int lanes = 8;
  static vec broadcast(float value) { return vec(_mm256_set1_ps(value)); }
};

template <>
struct SimdTraits<Isa::avx2, double> {
  typedef double vec __attribute__((vector_size(32)));
  static constexpr int lanes = 4;
  static vec broadcast(double value) { return vec(_mm256_set1_pd(value)); }
};

}  // namespace fastconv::detail
