// vector_math_units.cpp — one ISA unit of vector_math_units.hpp (FASTCONV_CUSTOM_ISA set by
// fastconv_add_custom_ops, which also gives the ISA's flags).
#include "kernels/vector_math_units.hpp"

#include <cstring>

#include "fastconv/custom.hpp"

void FASTCONV_CUSTOM_ISA_SYMBOL(vmath_apply, FASTCONV_CUSTOM_ISA)(fastconv::test::VmathFunction f, const float* a,
                                                                  const float* b, float* out, std::int64_t n) {
  using V = fastconv::custom::unit_vector;
  using F = fastconv::test::VmathFunction;
  namespace vm = fastconv::vmath;
  constexpr int L = vm::lanes<V>();
  for (std::int64_t i = 0; i < n; i += L) {
    V x, y, r{};
    std::memcpy(&x, a + i, sizeof(V));
    std::memcpy(&y, b + i, sizeof(V));
    switch (f) {
      case F::exp: r = vm::exp(x); break;
      case F::exp_nonpositive: r = vm::exp_nonpositive(x); break;
      case F::log: r = vm::log(x); break;
      case F::log1p: r = vm::log1p(x); break;
      case F::sqrt: r = vm::sqrt(x); break;
      case F::tanh: r = vm::tanh(x); break;
      case F::sigmoid: r = vm::sigmoid(x); break;
      case F::log_add_exp: r = vm::log_add_exp(x, y); break;
    }
    std::memcpy(out + i, &r, sizeof(V));
  }
}
