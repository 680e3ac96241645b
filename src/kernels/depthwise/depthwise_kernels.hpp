// depthwise_kernels.hpp — the depthwise engine's fused row kernels, one table per ISA (depthwise_kernels.inc lists them).
//
// A kernel computes, for j < count,
//   acc[j] += sum over rows r < R, taps kw < KW of w[r][kw] * src[r][j * S + kw]
// adding the products one by one in (r, kw) order: R kernel rows (1..3) of width KW (3 or 5),
// undilated, at stride S (1 or 2), on unit-step source rows whose taps are all inside the
// image. The templates are instantiated once per ISA in depthwise_kernels_<isa>.cpp (generated
// from depthwise_kernels_isa.cpp.in, compiled with that ISA's flags; the Isa template parameter
// keeps the instantiations distinct), and the engine picks the table of active_isa().
#pragma once

#include <cstdint>

#include "isa/cpu_isa.hpp"

namespace fastconv::detail {

template <typename T>
using DepthwiseRowsKernel = void (*)(T* acc, const T* const* src, const T* const* w,
                                     std::int64_t count);

inline constexpr int kDepthwiseMaxRows = 3;

template <typename T>
struct DepthwiseRowsKernels {
  DepthwiseRowsKernel<T> table[kDepthwiseMaxRows][2][2];  // [rows - 1][kernel_w == 5][stride == 2]
  DepthwiseRowsKernel<T> get(int rows, std::int64_t kernel_w, std::int64_t stride) const {
    return table[rows - 1][kernel_w == 5 ? 1 : 0][stride == 2 ? 1 : 0];
  }
};

// Supported by the fused kernels.
inline bool depthwise_rows_supported(std::int64_t kernel_w, std::int64_t stride) {
  return (kernel_w == 3 || kernel_w == 5) && (stride == 1 || stride == 2);
}

template <Isa isa, typename T>
const DepthwiseRowsKernels<T>& depthwise_rows_kernels();

// The table of the active ISA (FASTCONV_MAX_ISA caps it).
template <typename T>
const DepthwiseRowsKernels<T>& active_depthwise_rows_kernels() {
  switch (active_isa()) {
    case Isa::avx512: return depthwise_rows_kernels<Isa::avx512, T>();
    case Isa::avx2: return depthwise_rows_kernels<Isa::avx2, T>();
    case Isa::scalar: break;
  }
  return depthwise_rows_kernels<Isa::scalar, T>();
}

// The kernel template; include only from the per-ISA translation units.
#ifdef FASTCONV_DEPTHWISE_KERNEL_TU
template <Isa isa, typename T, int kRows, int kKernelW, int kStride>
void depthwise_rows_kernel(T* __restrict acc, const T* const* src, const T* const* w,
                           std::int64_t count) {
  T weights[kRows][kKernelW];
  const T* rows[kRows];
  for (int r = 0; r < kRows; ++r) {
    rows[r] = src[r];
    for (int kw = 0; kw < kKernelW; ++kw) weights[r][kw] = w[r][kw];
  }
  for (std::int64_t j = 0; j < count; ++j) {
    T sum = acc[j];
    for (int r = 0; r < kRows; ++r)
      for (int kw = 0; kw < kKernelW; ++kw) sum += weights[r][kw] * rows[r][j * kStride + kw];
    acc[j] = sum;
  }
}

template <Isa isa, typename T>
DepthwiseRowsKernels<T> make_depthwise_rows_kernels() {
  DepthwiseRowsKernels<T> k{};
#define FASTCONV_DW_ENTRY(rows)                                                  \
  k.table[rows - 1][0][0] = &depthwise_rows_kernel<isa, T, rows, 3, 1>;          \
  k.table[rows - 1][0][1] = &depthwise_rows_kernel<isa, T, rows, 3, 2>;          \
  k.table[rows - 1][1][0] = &depthwise_rows_kernel<isa, T, rows, 5, 1>;          \
  k.table[rows - 1][1][1] = &depthwise_rows_kernel<isa, T, rows, 5, 2>;
  FASTCONV_DW_ENTRY(1)
  FASTCONV_DW_ENTRY(2)
  FASTCONV_DW_ENTRY(3)
#undef FASTCONV_DW_ENTRY
  return k;
}
#endif

}  // namespace fastconv::detail
