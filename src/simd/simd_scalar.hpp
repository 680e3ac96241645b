// simd_scalar.hpp — SimdTraits for the portable path: 128-bit vector-extension types, which the
// compiler maps to the baseline ISA (SSE2 on x86-64) or splits into scalars elsewhere.
#pragma once

#include "simd/simd_traits.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace fastconv::detail {

template <>
struct SimdTraits<Isa::scalar, float> {
  typedef float vec __attribute__((vector_size(16)));
  static constexpr int lanes = 4;
#if defined(__SSE2__)
  static vec broadcast(float value) { return vec(_mm_set1_ps(value)); }
#else
  static vec broadcast(float value) { return vec{value, value, value, value}; }
#endif
};

template <>
struct SimdTraits<Isa::scalar, double> {
  typedef double vec __attribute__((vector_size(16)));
  static constexpr int lanes = 2;
#if defined(__SSE2__)
  static vec broadcast(double value) { return vec(_mm_set1_pd(value)); }
#else
  static vec broadcast(double value) { return vec{value, value}; }
#endif
};

}  // namespace fastconv::detail
