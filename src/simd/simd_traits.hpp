// simd_traits.hpp — the SIMD wrapper layer: per ISA and element type, the vector type kernels
// compute in and the few operations the compiler does not generate well from plain C++.
//
// SimdTraits<isa, T> is specialised in simd_<isa>.hpp, which only that ISA's translation units
// include (they are compiled with the ISA's flags). It provides:
//   using vec = T __attribute__((vector_size(N)));   // arithmetic via GCC/Clang vector extensions
//   static constexpr int lanes;
//   static vec broadcast(T value);                     // every lane = value
#pragma once

#include "isa/cpu_isa.hpp"

namespace fastconv::detail {

template <Isa isa, typename T>
struct SimdTraits;

}  // namespace fastconv::detail
