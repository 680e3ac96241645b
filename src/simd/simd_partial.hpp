// simd_partial.hpp — the first `rows` lanes of a vector from / to memory (the tails of rows and
// tiles). Include after the ISA's simd_<isa>.hpp.
#pragma once

#include <cstddef>
#include <cstring>

#include "simd/simd_traits.hpp"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace fastconv::detail {

// The first `rows` lanes of a vector from / to memory, and lanes [begin, end) of one
// (load_range: the other lanes zero, their memory never touched, so `from` may lie before the
// start of an allocation; 0 <= begin, end <= lanes, an empty range when begin >= end). Masked
// loads and stores where the ISA has them (the AVX-512 and AVX2 translation units define
// __AVX512F__ / __AVX2__); elsewhere memcpy and per-lane loops.
template <Isa isa>
struct SimdPartial {
  template <typename vec>
  static vec load(const float* from, int rows) {
    vec value{};
    std::memcpy(&value, from, sizeof(float) * std::size_t(rows));
    return value;
  }
  template <typename vec>
  static vec load_range(const float* from, int begin, int end) {
    vec value{};
    for (int i = begin; i < end; ++i) value[i] = from[i];
    return value;
  }
  template <typename vec>
  static void store(float* to, vec value, int rows) {
    std::memcpy(to, &value, sizeof(float) * std::size_t(rows));
  }
};

#if defined(__AVX512F__)
template <>
struct SimdPartial<Isa::avx512> {
  static __mmask16 mask(int rows) { return __mmask16((1u << rows) - 1u); }
  template <typename vec>
  static vec load(const float* from, int rows) {
    return vec(_mm512_maskz_loadu_ps(mask(rows), from));
  }
  template <typename vec>
  static vec load_range(const float* from, int begin, int end) {
    const unsigned lanes = begin < end ? ((1u << end) - 1u) & ~((1u << begin) - 1u) : 0u;
    return vec(_mm512_maskz_loadu_ps(__mmask16(lanes), from));
  }
  template <typename vec>
  static void store(float* to, vec value, int rows) {
    _mm512_mask_storeu_ps(to, mask(rows), __m512(value));
  }
};
#endif

#if defined(__AVX2__)
template <>
struct SimdPartial<Isa::avx2> {
  static __m256i mask(int rows) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(rows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  template <typename vec>
  static vec load(const float* from, int rows) {
    return vec(_mm256_maskload_ps(from, mask(rows)));
  }
  template <typename vec>
  static vec load_range(const float* from, int begin, int end) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i inside = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(begin), lane),
                                               _mm256_cmpgt_epi32(_mm256_set1_epi32(end), lane));
    return vec(_mm256_maskload_ps(from, inside));
  }
  template <typename vec>
  static void store(float* to, vec value, int rows) {
    _mm256_maskstore_ps(to, mask(rows), __m256(value));
  }
};
#endif

}  // namespace fastconv::detail
