// gemm.hpp — the library's own GEMM: C = A * B (+ C) (+ row bias), packed and cache-blocked.
//
// One internal interface; the microkernel behind it is chosen at run time per ISA from the
// list in gemm_kernels.inc. Matrices are strided (row and column strides in elements), so
// transposed and sub-matrix views need no copy. Threads: up to the `threads` given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace fastconv::detail {

// A strided matrix. Columns may also walk in two levels (col_group > 0): column j at
// (j / col_group) * group_stride + (j % col_group) * col_stride, e.g. the pixels of a strided
// 1x1 convolution's input (a row's pixels col_stride apart, rows group_stride apart). The GEMM
// reads B only through col_offset; A and C walk in one level.
template <typename T>
struct MatrixView {
  T* data;
  std::int64_t row_stride;
  std::int64_t col_stride;
  std::int64_t col_group = 0;
  std::int64_t group_stride = 0;
  std::int64_t col_offset(std::int64_t col) const {
    return col_group == 0 ? col * col_stride : col / col_group * group_stride + col % col_group * col_stride;
  }
  T& at(std::int64_t row, std::int64_t col) const { return data[row * row_stride + col_offset(col)]; }
};

template <typename T>
using GemmMicrokernelFn = void (*)(std::int64_t kc, const T* packed_a, const T* packed_b, T* c,
                                   std::int64_t rs_c, std::int64_t cs_c, bool accumulate,
                                   const T* bias);

// Packs rows [0, rows) x depth [0, k) of A (element (i, p) at a[i * row_stride + p * col_stride])
// into one mr-row micro-panel: out[p * mr + i], rows past `rows` zero. One per ISA and mr.
template <typename T>
using GemmPackAFn = void (*)(const T* a, std::int64_t row_stride, std::int64_t col_stride,
                             std::int64_t rows, std::int64_t k, T* out);

template <typename T>
struct GemmKernel {
  const char* name;
  int isa;  // detail::Isa
  GemmMicrokernelFn<T> run;
  int mr, nr;
  std::int64_t kc, mc, nc;
  GemmPackAFn<T> pack_a;  // the ISA's A packing for this mr
};

// Every kernel compiled into the library (in list order), usable or not on this CPU.
template <typename T>
std::span<const GemmKernel<T>> all_gemm_kernels();

// The preferred kernel for the active ISA.
template <typename T>
const GemmKernel<T>& active_gemm_kernel();

// The active kernel's name for a dtype (FASTCONV_VERBOSE), e.g. "f32_gemm_12x32__avx512".
const char* active_gemm_kernel_name(bool float32);

// Workspace bytes gemm() needs for these sizes with up to `threads` threads (packing buffers,
// one set per thread, each at most about 1 MiB whatever the sizes).
template <typename T>
std::size_t gemm_workspace_bytes(std::int64_t m, std::int64_t n, std::int64_t k, int threads);

// C[m x n] = (accumulate ? C : 0) + A[m x k] * B[k x n] + row_bias[i] (if not null).
// workspace: at least gemm_workspace_bytes(m, n, k, threads), 64-byte aligned. Uses up to
// `threads` threads. `kernel` defaults to the active one; tests pass each kernel.
template <typename T>
void gemm(std::int64_t m, std::int64_t n, std::int64_t k, MatrixView<const T> a,
          MatrixView<const T> b, MatrixView<T> c, bool accumulate, const T* row_bias,
          void* workspace, int threads, const GemmKernel<T>* kernel = nullptr);

}  // namespace fastconv::detail
