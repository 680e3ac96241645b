// winograd_transforms.hpp — the Winograd F(2,3) row transforms, written once for every ISA
// (contracts in winograd_kernels.hpp). Include only from the per-ISA translation units
// (generated from winograd_kernels_isa.cpp.in), after that ISA's simd_<isa>.hpp.
//
// Input: L tiles at a time from 2L + 2 consecutive columns, read as four unaligned vectors and
// split into even and odd columns by two-source lane shuffles (d0, d1 from columns 2p.., d2, d3
// from 2p + 2..); ceil(count / L) vectors per row, the last overlapping the one before. Loads
// inside the row are plain; loads across its ends are masked (AVX-512, AVX2) or, on the portable
// path and for strided rows, come from a zero-padded copy of the vector's columns on the stack.
// Output: the even and odd columns of L tiles interleaved by two shuffles into 2L consecutive
// outputs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/winograd/winograd_kernels.hpp"
#include "simd/simd_partial.hpp"
#include "simd/simd_traits.hpp"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace fastconv::detail {

template <typename vec>
inline vec winograd_load(const float* from) {
  vec value;
  std::memcpy(&value, from, sizeof(vec));
  return value;
}

template <typename vec>
inline void winograd_store(float* to, vec value) {
  std::memcpy(to, &value, sizeof(vec));
}

// Lane-wise max(m, |v|). Blind to NaN (a NaN lane of v may be dropped): the finite sums catch
// NaN, this tracks magnitudes.
template <typename vec>
inline vec winograd_max_abs(vec m, vec v) {
  const vec zero = v - v;
  const vec magnitude = v < zero ? -v : v;
  return magnitude > m ? magnitude : m;
}

// Lanes 2i + PHASE of the 2L lanes (a, b): the even (PHASE 0) or odd (PHASE 1) columns.
template <int PHASE, typename vec, int... I>
inline vec winograd_split(vec a, vec b, std::integer_sequence<int, I...>) {
  return __builtin_shufflevector(a, b, (2 * I + PHASE)...);
}

// Lanes HALF * L/2 + i of a and of b, interleaved: a_i, b_i, a_{i+1}, b_{i+1}, ...
template <int HALF, int L, typename vec, int... I>
inline vec winograd_interleave(vec a, vec b, std::integer_sequence<int, I...>) {
  return __builtin_shufflevector(a, b, ((I % 2 ? L : 0) + HALF * L / 2 + I / 2)...);
}

// Lane i = row[first + i] where first + i lies in [0, width), 0 elsewhere (never read there): one
// masked load on AVX-512 and AVX2. The address is formed as an integer because it may lie before
// the row. Other ISAs return false and load nothing.
template <Isa isa, typename vec>
inline bool winograd_load_inside(const float* row, std::int64_t first, std::int64_t width, vec& value) {
  constexpr int L = SimdTraits<isa, float>::lanes;
  const std::int64_t lo = std::clamp<std::int64_t>(-first, 0, L);
  const std::int64_t hi = std::clamp<std::int64_t>(width - first, lo, L);
  const auto address = reinterpret_cast<const float*>(reinterpret_cast<std::uintptr_t>(row) +
                                                      std::uintptr_t(first * std::int64_t(sizeof(float))));
  if constexpr (isa == Isa::avx512 || isa == Isa::avx2) {
    value = SimdPartial<isa>::template load_range<vec>(address, int(lo), int(hi));
    return true;
  }
  (void)address, (void)value, (void)lo, (void)hi;
  return false;
}

// V_0..V_3 of L tiles from their 2L + 2 columns (tile i's d0 is lane 2i of low, high; d2 lane 2i
// of low2, high2, which start two columns later); stored at v + e * e_stride; V0 * V3 is added
// to check.
template <Isa isa>
inline void winograd_input_vector(typename SimdTraits<isa, float>::vec low, typename SimdTraits<isa, float>::vec high,
                                  typename SimdTraits<isa, float>::vec low2,
                                  typename SimdTraits<isa, float>::vec high2, float* v, std::int64_t e_stride,
                                  typename SimdTraits<isa, float>::vec& check) {
  using vec = typename SimdTraits<isa, float>::vec;
  constexpr auto lanes = std::make_integer_sequence<int, SimdTraits<isa, float>::lanes>{};
  const vec d0 = winograd_split<0>(low, high, lanes), d1 = winograd_split<1>(low, high, lanes);
  const vec d2 = winograd_split<0>(low2, high2, lanes), d3 = winograd_split<1>(low2, high2, lanes);
  const vec v0 = d0 - d2, v3 = d1 - d3;
  winograd_store(v, v0);
  winograd_store(v + e_stride, d1 + d2);
  winograd_store(v + 2 * e_stride, d2 - d1);
  winograd_store(v + 3 * e_stride, v3);
  check += v0 * v3;
}

template <Isa isa>
void winograd_input_row(const float* row, std::int64_t step, std::int64_t x0, std::int64_t width,
                        std::int64_t count, float* v, std::int64_t e_stride, float* check_lanes) {
  using vec = typename SimdTraits<isa, float>::vec;
  constexpr int L = SimdTraits<isa, float>::lanes;
  vec check = winograd_load<vec>(check_lanes);
  vec largest = winograd_load<vec>(check_lanes + kWinogradCheckLanes);
  // L consecutive columns from `first`: a plain load inside the row at unit step, a masked load
  // across its ends; false where the ISA has no masked load (then the stack copy below).
  auto load = [&](std::int64_t first, vec& value) {
    if (first >= 0 && first + L <= width) {
      value = winograd_load<vec>(row + first);
      return true;
    }
    return winograd_load_inside<isa>(row, first, width, value);
  };
  // Vectors of L tiles from 0; the last moves back to end at `count` (tiles computed twice get the
  // same values), or, for fewer than L tiles, writes past count up to L.
  const std::int64_t last = count > L ? count - L : 0;
  for (std::int64_t s0 = 0; s0 < count; s0 += L) {
    const std::int64_t s = std::min(s0, last), first = x0 + 2 * s;
    vec low, high, low2, high2;
    if (step != 1 || !load(first, low) || !load(first + L, high) || !load(first + 2, low2) ||
        !load(first + L + 2, high2)) {
      constexpr std::int64_t span = 2 * L + 2;
      alignas(64) float columns[span];
      for (std::int64_t i = 0; i < span; ++i) {
        const std::int64_t x = first + i;
        columns[i] = x >= 0 && x < width ? row[x * step] : 0.0f;
      }
      low = winograd_load<vec>(columns), high = winograd_load<vec>(columns + L);
      low2 = winograd_load<vec>(columns + 2), high2 = winograd_load<vec>(columns + L + 2);
    }
    winograd_input_vector<isa>(low, high, low2, high2, v + s, e_stride, check);
    // low, low2 and high2 cover the vector's 2L + 2 columns.
    largest = winograd_max_abs(winograd_max_abs(winograd_max_abs(largest, low), low2), high2);
  }
  winograd_store(check_lanes, check);
  winograd_store(check_lanes + kWinogradCheckLanes, largest);
}

template <Isa isa>
void winograd_output(const float* products, std::int64_t e_stride, std::int64_t channel_stride,
                     std::int64_t channels, std::int64_t pixels, std::int64_t columns, const float* bias,
                     float* out, std::int64_t out_channel_stride, std::int64_t out_column_stride) {
  using Simd = SimdTraits<isa, float>;
  using vec = typename Simd::vec;
  constexpr int L = Simd::lanes;
  constexpr auto lanes = std::make_integer_sequence<int, L>{};
  for (std::int64_t j = 0; j < channels; ++j) {
    const float* m0 = products + j * channel_stride;
    const float* m1 = m0 + e_stride;
    const float* m2 = m1 + e_stride;
    const float* m3 = m2 + e_stride;
    const float b = bias != nullptr ? bias[j] : 0.0f;
    float* o = out + j * out_channel_stride;
    if (out_column_stride != 1) {
      for (std::int64_t c = 0; c < columns; ++c) {
        const std::int64_t p = c / 2;
        o[c * out_column_stride] = (c % 2 == 0 ? m0[p] + m1[p] + m2[p] : m1[p] - m2[p] - m3[p]) + b;
      }
      continue;
    }
    const vec bv = Simd::broadcast(b);
    for (std::int64_t p = 0; p < pixels; p += L) {
      const vec a0 = winograd_load<vec>(m0 + p), a1 = winograd_load<vec>(m1 + p);
      const vec a2 = winograd_load<vec>(m2 + p), a3 = winograd_load<vec>(m3 + p);
      const vec even = a0 + a1 + a2 + bv, odd = a1 - a2 - a3 + bv;
      const vec first = winograd_interleave<0, L>(even, odd, lanes);
      const vec second = winograd_interleave<1, L>(even, odd, lanes);
      const std::int64_t c = 2 * p, left = columns - c;
      if (left >= 2 * L) {
        winograd_store(o + c, first);
        winograd_store(o + c + L, second);
      } else {
        SimdPartial<isa>::store(o + c, first, int(std::min<std::int64_t>(L, left)));
        if (left > L) SimdPartial<isa>::store(o + c + L, second, int(left - L));
      }
    }
  }
}

template <Isa isa>
void winograd_weights(const float* __restrict t, std::int64_t rows, std::int64_t width, float* __restrict u,
                      std::int64_t e_stride, float* check_lanes) {
  using Simd = SimdTraits<isa, float>;
  using vec = typename Simd::vec;
  constexpr int L = Simd::lanes;
  const vec half = Simd::broadcast(0.5f);
  vec check = winograd_load<vec>(check_lanes);
  vec largest = winograd_load<vec>(check_lanes + kWinogradCheckLanes);
  float tail_check = 0.0f, tail_largest = 0.0f;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* t0 = t + r * 3 * width;
    const float* t1 = t0 + width;
    const float* t2 = t1 + width;
    float* to = u + r * width;
    std::int64_t j = 0;
    for (; j + L <= width; j += L) {
      const vec g0 = winograd_load<vec>(t0 + j), g1 = winograd_load<vec>(t1 + j), g2 = winograd_load<vec>(t2 + j);
      const vec outer = g0 + g2;
      check += outer + g1;
      largest = winograd_max_abs(winograd_max_abs(winograd_max_abs(largest, g0), g1), g2);
      winograd_store(to + j, g0);
      winograd_store(to + e_stride + j, (outer + g1) * half);
      winograd_store(to + 2 * e_stride + j, (outer - g1) * half);
      winograd_store(to + 3 * e_stride + j, g2);
    }
    for (; j < width; ++j) {
      const float g0 = t0[j], g1 = t1[j], g2 = t2[j];
      tail_check += g0 + g1 + g2;
      tail_largest = std::max({tail_largest, std::abs(g0), std::abs(g1), std::abs(g2)});
      to[j] = g0;
      to[e_stride + j] = (g0 + g1 + g2) * 0.5f;
      to[2 * e_stride + j] = (g0 - g1 + g2) * 0.5f;
      to[3 * e_stride + j] = g2;
    }
  }
  check[0] += tail_check;
  largest[0] = std::max(largest[0], tail_largest);
  winograd_store(check_lanes, check);
  winograd_store(check_lanes + kWinogradCheckLanes, largest);
}

}  // namespace fastconv::detail
