// vector_math_units.hpp — fastconv::vmath's functions applied over arrays by the vector type of
// each ISA unit (vector_math_units.cpp, compiled once per ISA by fastconv_add_custom_ops), for
// test_vector_math.
#pragma once

#include <cstdint>

namespace fastconv::test {

enum class VmathFunction { exp, exp_nonpositive, log, log1p, sqrt, tanh, sigmoid, log_add_exp };

// out[i] = f(a[i]) (log_add_exp: f(a[i], b[i])) for i < n, n a multiple of 16.
using VmathApply = void (*)(VmathFunction f, const float* a, const float* b, float* out, std::int64_t n);

}  // namespace fastconv::test

void vmath_apply_fastconv_isa0(fastconv::test::VmathFunction, const float*, const float*, float*, std::int64_t);
void vmath_apply_fastconv_isa1(fastconv::test::VmathFunction, const float*, const float*, float*, std::int64_t);
void vmath_apply_fastconv_isa2(fastconv::test::VmathFunction, const float*, const float*, float*, std::int64_t);
