// fastconv/custom/vector_math.hpp — element-wise math for custom inner operations.
//
// Every function takes a scalar (float, double) or a GCC/Clang vector-extension type
// (`float __attribute__((vector_size(N)))`), so one definition of an operation serves the
// library's vector kernels at every ISA and its scalar reference. Lanes are independent; a
// comparison's "true" is a lane of all one bits, as the vector extensions give it.
//
//   splat<V>(s)          every lane = s           select(mask, a, b)   mask ? a : b per lane
//   abs min max clamp sign relu                   exp log sqrt tanh sigmoid
//   log_add_exp(a, b)    log(exp(a) + exp(b)), without overflow
//
// exp, log, log1p, tanh and sigmoid are accurate to a few ulp over the float range (float32 lanes
// by float32 polynomials, sqrt by the instruction; float64 lanes and scalars the C library); +-Inf
// and NaN propagate as in <cmath> (tests/kernels/test_vector_math.cpp measures them).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#if defined(__SSE2__) || defined(__AVX__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace fastconv::vmath {

// Scalars and vector-extension types.
template <typename V>
concept Scalar = std::is_floating_point_v<V>;
template <typename V>
concept Vector = !Scalar<V> && requires(V v) { v[0]; };

template <typename V>
struct element {
  using type = V;
};
template <Vector V>
struct element<V> {
  using type = std::remove_cvref_t<decltype(std::declval<V>()[0])>;
};
template <typename V>
using element_t = typename element<V>::type;

template <typename V>
constexpr int lanes() {
  if constexpr (Scalar<V>) {
    return 1;
  } else {
    return int(sizeof(V) / sizeof(element_t<V>));
  }
}

// The integer type of a lane's bits, and the matching vector.
template <typename T>
using bits_t = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
template <typename V>
struct mask_of {
  using type = bool;
};
template <Vector V>
struct mask_of<V> {
  typedef bits_t<element_t<V>> type __attribute__((vector_size(sizeof(V))));
};
template <typename V>
using mask_t = typename mask_of<V>::type;

#define FASTCONV_VMATH_INLINE [[gnu::always_inline]] inline

// (One broadcast instruction where the unit's ISA has it: V{} + value would add a scalar 0
// first, which the compiler may not drop because of signed zeros.)
template <typename V>
FASTCONV_VMATH_INLINE V splat(element_t<V> value) {
  using T = element_t<V>;
  if constexpr (Scalar<V>) {
    return value;
#if defined(__AVX512F__)
  } else if constexpr (sizeof(V) == 64 && std::is_same_v<T, float>) {
    return (V)_mm512_set1_ps(value);
  } else if constexpr (sizeof(V) == 64 && std::is_same_v<T, double>) {
    return (V)_mm512_set1_pd(value);
#endif
#if defined(__AVX__)
  } else if constexpr (sizeof(V) == 32 && std::is_same_v<T, float>) {
    return (V)_mm256_set1_ps(value);
  } else if constexpr (sizeof(V) == 32 && std::is_same_v<T, double>) {
    return (V)_mm256_set1_pd(value);
#endif
#if defined(__SSE2__)
  } else if constexpr (sizeof(V) == 16 && std::is_same_v<T, float>) {
    return (V)_mm_set1_ps(value);
  } else if constexpr (sizeof(V) == 16 && std::is_same_v<T, double>) {
    return (V)_mm_set1_pd(value);
#endif
  } else {
    V result;
    for (int i = 0; i < lanes<V>(); ++i) result[i] = value;
    return result;
  }
}

template <typename V>
FASTCONV_VMATH_INLINE V select(mask_t<V> mask, V a, V b) {
  return mask ? a : b;  // (the vector extensions' lane-wise ?:)
}

template <typename V>
FASTCONV_VMATH_INLINE V abs(V v) {
  if constexpr (Scalar<V>) {
    return std::fabs(v);
  } else {
    using Int = bits_t<element_t<V>>;
    // (A cast between vector types of one size reinterprets the bits: the sign bits cleared by
    // one and.)
    return (V)((mask_t<V>)v & std::numeric_limits<Int>::max());
  }
}

// max/min return b when a lane of a is NaN (as x86's max/min instructions do); use isnan-aware
// code where NaN must win. (Spelled with the instructions where the unit has them: the compiler
// may otherwise merge a ?: max with a neighbouring select into compares and mask operations. The
// masked AVX-512 form: GCC 12 warns of the plain one's undefined pass-through operand.)
template <bool kMax, typename V>
FASTCONV_VMATH_INLINE V max_or_min(V a, V b) {
  if constexpr (Vector<V> && std::is_same_v<element_t<V>, float>) {
#if defined(__AVX512F__)
    if constexpr (sizeof(V) == 64) {
      const __m512 x = (__m512)a, y = (__m512)b;
      const __mmask16 all = 0xFFFF;
      return (V)(kMax ? _mm512_mask_max_ps(x, all, x, y) : _mm512_mask_min_ps(x, all, x, y));
    }
#endif
#if defined(__AVX__)
    if constexpr (sizeof(V) == 32) {
      const __m256 x = (__m256)a, y = (__m256)b;
      return (V)(kMax ? _mm256_max_ps(x, y) : _mm256_min_ps(x, y));
    }
#endif
#if defined(__SSE__)
    if constexpr (sizeof(V) == 16) {
      const __m128 x = (__m128)a, y = (__m128)b;
      return (V)(kMax ? _mm_max_ps(x, y) : _mm_min_ps(x, y));
    }
#endif
  }
  if constexpr (kMax) return a > b ? a : b;
  else return a < b ? a : b;
}
template <typename V>
FASTCONV_VMATH_INLINE V max(V a, V b) {
  return max_or_min<true>(a, b);
}
template <typename V>
FASTCONV_VMATH_INLINE V min(V a, V b) {
  return max_or_min<false>(a, b);
}
template <typename V>
FASTCONV_VMATH_INLINE V clamp(V v, V lo, V hi) {
  return min(max(v, lo), hi);
}
template <typename V>
FASTCONV_VMATH_INLINE V relu(V v) {
  return max(v, splat<V>(0));
}
// -1, 0 or 1 (0 for +-0; NaN gives 0).
template <typename V>
FASTCONV_VMATH_INLINE V sign(V v) {
  const V zero = splat<V>(0);
  return select<V>(v > zero, splat<V>(1), select<V>(v < zero, splat<V>(-1), zero));
}

// Per-lane application of a scalar function (for the rarely used, non-hot functions).
template <typename V, typename F>
FASTCONV_VMATH_INLINE V per_lane(V v, F&& f) {
  if constexpr (Scalar<V>) {
    return f(v);
  } else {
    for (int i = 0; i < lanes<V>(); ++i) v[i] = f(v[i]);
    return v;
  }
}

// exp: float32 lanes by range reduction (x = n ln2 + r, |r| <= ln2 / 2) and a degree-6
// polynomial for exp(r) (relative error < 2e-7), the scale 2^n built in the exponent bits.
template <typename V>
FASTCONV_VMATH_INLINE V exp(V x) {
  using T = element_t<V>;
  if constexpr (Scalar<V> || !std::is_same_v<T, float>) {
    return per_lane(x, [](auto value) { return std::exp(value); });
  } else {
    using M = mask_t<V>;
    const V clamped = min(max(x, splat<V>(-104.0f)), splat<V>(89.0f));  // beyond: 0 or Inf below
    const V n = clamped * splat<V>(1.44269504088896341f);
    // Round to nearest by the 1.5 * 2^23 trick (exact for |n| < 2^22).
    const V magic = splat<V>(12582912.0f);
    const V rounded = (n + magic) - magic;
    const V r = (clamped - rounded * splat<V>(0.693359375f)) + rounded * splat<V>(2.12194440e-4f);
    V p = splat<V>(1.9875691500e-4f);
    p = p * r + splat<V>(1.3981999507e-3f);
    p = p * r + splat<V>(8.3334519073e-3f);
    p = p * r + splat<V>(4.1665795894e-2f);
    p = p * r + splat<V>(1.6666665459e-1f);
    p = p * r + splat<V>(5.0000001201e-1f);
    p = p * r * r + r + splat<V>(1.0f);
    // 2^n in two halves so that n down to -149 (denormal results) and up to 128 stay exact.
    const M k = __builtin_convertvector(rounded, M);
    const M k1 = k >> 1, k2 = k - k1;
    M e1 = (k1 + 127) << 23, e2 = (k2 + 127) << 23;
    V s1, s2;
    s1 = (V)e1;
    s2 = (V)e2;
    V result = p * s1 * s2;
    result = select<V>(x < splat<V>(-104.0f), splat<V>(0.0f), result);
    result = select<V>(x > splat<V>(89.0f), splat<V>(std::numeric_limits<float>::infinity()), result);
    return select<V>(x != x, x, result);  // NaN stays NaN
  }
}

// exp for x <= 0 (or NaN, with any result), cheaper than exp: no overflow or NaN handling, and
// x below -87 is taken as -87 (exp gives 1.6e-38 instead of less), as a sum of exponentials
// whose largest term is exp(0) = 1 needs. float32 lanes; other types use exp.
template <typename V>
FASTCONV_VMATH_INLINE V exp_nonpositive(V x) {
  using T = element_t<V>;
  if constexpr (Scalar<V> || !std::is_same_v<T, float>) {
    return exp(x);
  } else {
    using M = mask_t<V>;
    const V clamped = max(x, splat<V>(-87.0f));
    const V magic = splat<V>(12582912.0f);
    const V rounded = (clamped * splat<V>(1.44269504088896341f) + magic) - magic;
    const V r = (clamped - rounded * splat<V>(0.693359375f)) + rounded * splat<V>(2.12194440e-4f);
    V p = splat<V>(1.9875691500e-4f);
    p = p * r + splat<V>(1.3981999507e-3f);
    p = p * r + splat<V>(8.3334519073e-3f);
    p = p * r + splat<V>(4.1665795894e-2f);
    p = p * r + splat<V>(1.6666665459e-1f);
    p = p * r + splat<V>(5.0000001201e-1f);
    p = p * r * r + r + splat<V>(1.0f);
#if defined(__AVX512F__)
    if constexpr (sizeof(V) == 64)  // p * 2^rounded in one instruction
      return (V)_mm512_mask_scalef_ps((__m512)p, __mmask16(0xFFFF), (__m512)p, (__m512)rounded);
#endif
    const M scale_bits = (__builtin_convertvector(rounded, M) + 127) << 23;
    return p * (V)scale_bits;
  }
}

// sqrt: the instruction for float32 lanes.
template <typename V>
FASTCONV_VMATH_INLINE V sqrt(V x) {
  if constexpr (Vector<V> && std::is_same_v<element_t<V>, float>) {
#if defined(__AVX512F__)
    if constexpr (sizeof(V) == 64) {
      const __m512 v = (__m512)x;
      return (V)_mm512_mask_sqrt_ps(v, __mmask16(0xFFFF), v);
    }
#endif
#if defined(__AVX__)
    if constexpr (sizeof(V) == 32) return (V)_mm256_sqrt_ps((__m256)x);
#endif
#if defined(__SSE__)
    if constexpr (sizeof(V) == 16) return (V)_mm_sqrt_ps((__m128)x);
#endif
  }
  return per_lane(x, [](auto value) { return std::sqrt(value); });
}

// log: float32 lanes as x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(m) = f - f^2 / 2 +
// f^3 P(f) with f = m - 1 (Cephes' logf polynomial, a few ulp), e ln2 in two parts. Denormals are
// scaled first; 0 gives -Inf, negatives and NaN NaN, +Inf +Inf.
template <typename V>
FASTCONV_VMATH_INLINE V log(V x) {
  using T = element_t<V>;
  if constexpr (Scalar<V> || !std::is_same_v<T, float>) {
    return per_lane(x, [](auto value) { return std::log(value); });
  } else {
    using M = mask_t<V>;
    const M tiny = x < splat<V>(1.17549435e-38f);  // (also 0 and negatives: fixed at the end)
    const V scaled = select<V>(tiny, x * splat<V>(8388608.0f), x);
    const M bits = (M)scaled;
    M exponent = ((bits >> 23) & 0xFF) - 126 - (tiny & 23);
    V m = (V)((bits & 0x007FFFFF) | 0x3F000000);  // [1/2, 1)
    const M low = m < splat<V>(0.707106781186547524f);
    exponent += low;  // (true lanes are -1)
    const V f = select<V>(low, m + m, m) - splat<V>(1.0f);
    const V e = __builtin_convertvector(exponent, V);
    const V z = f * f;
    V p = splat<V>(7.0376836292e-2f);
    p = p * f + splat<V>(-1.1514610310e-1f);
    p = p * f + splat<V>(1.1676998740e-1f);
    p = p * f + splat<V>(-1.2420140846e-1f);
    p = p * f + splat<V>(1.4249322787e-1f);
    p = p * f + splat<V>(-1.6668057665e-1f);
    p = p * f + splat<V>(2.0000714765e-1f);
    p = p * f + splat<V>(-2.4999993993e-1f);
    p = p * f + splat<V>(3.3333331174e-1f);
    V y = p * f * z + e * splat<V>(-2.12194440e-4f) - splat<V>(0.5f) * z;
    V result = f + y + e * splat<V>(0.693359375f);
    const V zero = splat<V>(0.0f), inf = splat<V>(std::numeric_limits<float>::infinity());
    result = select<V>(x == inf, inf, result);
    result = select<V>(x == zero, -inf, result);
    return select<V>(x < zero || x != x, splat<V>(std::numeric_limits<float>::quiet_NaN()), result);
  }
}

// log(1 + x) for x >= -1, accurate for small x (log of the rounded 1 + x, corrected by the
// rounding: x / ((1 + x) - 1)).
template <typename V>
FASTCONV_VMATH_INLINE V log1p(V x) {
  using T = element_t<V>;
  if constexpr (Scalar<V> || !std::is_same_v<T, float>) {
    return per_lane(x, [](auto value) { return std::log1p(value); });
  } else {
    const V one = splat<V>(1.0f);
    const V u = one + x, d = u - one;
    const V corrected = log(u) * (x / select<V>(d == splat<V>(0.0f), one, d));
    return select<V>(d == splat<V>(0.0f), x, select<V>(u == splat<V>(std::numeric_limits<float>::infinity()), u, corrected));
  }
}

// tanh: float32 lanes by x + x^3 P(x^2) below 0.625 in magnitude (Cephes' tanhf polynomial),
// else sign(x) (1 - 2 / (exp(2|x|) + 1)); NaN stays NaN.
template <typename V>
FASTCONV_VMATH_INLINE V tanh(V x) {
  using T = element_t<V>;
  if constexpr (Scalar<V> || !std::is_same_v<T, float>) {
    return per_lane(x, [](auto value) { return std::tanh(value); });
  } else {
    using M = mask_t<V>;
    const V a = abs(x);
    const V z = x * x;
    V p = splat<V>(-5.70498872745e-3f);
    p = p * z + splat<V>(2.06390887954e-2f);
    p = p * z + splat<V>(-5.37397155531e-2f);
    p = p * z + splat<V>(1.33314422036e-1f);
    p = p * z + splat<V>(-3.33332819422e-1f);
    const V small = p * z * a + a;
    const V large = splat<V>(1.0f) - splat<V>(2.0f) / (exp(a + a) + splat<V>(1.0f));
    const V magnitude = select<V>(a < splat<V>(0.625f), small, large);  // (NaN: large, NaN)
    return (V)((M)magnitude | ((M)x & std::numeric_limits<bits_t<float>>::min()));  // x's sign, -0 too
  }
}

template <typename V>
FASTCONV_VMATH_INLINE V sigmoid(V x) {
  return splat<V>(1) / (splat<V>(1) + exp(-x));
}

// log(exp(a) + exp(b)) = max + log1p(exp(-|a - b|)); -Inf with -Inf gives -Inf.
template <typename V>
FASTCONV_VMATH_INLINE V log_add_exp(V a, V b) {
  const V high = max(a, b), low = min(a, b);
  const V sum = high + log1p(exp(low - high));
  return select<V>(low == splat<V>(-std::numeric_limits<element_t<V>>::infinity()), high, sum);
}

}  // namespace fastconv::vmath
