// test_gemm_kernels.cpp — every GEMM microkernel in gemm_kernels.inc that this CPU (and
// FASTCONV_MAX_ISA) allows, through the blocked driver, against a naive double-precision GEMM.
//
// Edges: M and N remainders of every kind (1, tile - 1, tile, tile + 1, several tiles, past the
// mc / nc cache blocks), K = 1, K < kc, K = kc, K > kc, accumulate on/off, bias on/off,
// transposed and strided operands. Inputs are small integers, so results are exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <new>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "fastconv/threading.hpp"
#include "gemm/gemm.hpp"
#include "isa/cpu_isa.hpp"

namespace fastconv::detail {
namespace {

template <typename T>
struct GemmCase {
  std::int64_t m, n, k;
  bool accumulate, bias, transpose_a, transpose_b, strided_c;
};

template <typename T>
void run_case(const GemmKernel<T>& kernel, const GemmCase<T>& c, std::mt19937& rng) {
  std::uniform_int_distribution<int> small(-3, 3);
  const std::int64_t lda = c.transpose_a ? c.m : c.k, ldb = c.transpose_b ? c.k : c.n;
  const std::int64_t c_col_stride = c.strided_c ? 2 : 1, ldc = c.n * c_col_stride + 3;
  std::vector<T> a(std::size_t(c.m * c.k)), b(std::size_t(c.k * c.n)), bias(std::size_t(c.m));
  std::vector<T> out(std::size_t(c.m * ldc), T(-777));
  for (auto& v : a) v = T(small(rng));
  for (auto& v : b) v = T(small(rng));
  for (auto& v : bias) v = T(small(rng));
  const std::vector<T> initial = out;
  const MatrixView<const T> av = c.transpose_a ? MatrixView<const T>{a.data(), 1, lda}
                                               : MatrixView<const T>{a.data(), lda, 1};
  const MatrixView<const T> bv = c.transpose_b ? MatrixView<const T>{b.data(), 1, ldb}
                                               : MatrixView<const T>{b.data(), ldb, 1};
  const MatrixView<T> cv{out.data(), ldc, c_col_stride};

  const std::size_t bytes = gemm_workspace_bytes<T>(c.m, c.n, c.k, fastconv::get_num_threads());
  void* workspace = ::operator new(bytes, std::align_val_t(64));
  gemm<T>(c.m, c.n, c.k, av, bv, cv, c.accumulate, c.bias ? bias.data() : nullptr, workspace,
          fastconv::get_num_threads(), &kernel);
  ::operator delete(workspace, std::align_val_t(64));

  for (std::int64_t i = 0; i < c.m; ++i) {
    for (std::int64_t j = 0; j < ldc; ++j) {
      const std::size_t index = std::size_t(i * ldc + j);
      if (j % c_col_stride != 0 || j / c_col_stride >= c.n) {  // gaps stay untouched
        ASSERT_EQ(out[index], initial[index]) << kernel.name << " wrote a gap at " << i << "," << j;
        continue;
      }
      double expected = c.accumulate ? double(initial[index]) : 0.0;
      if (c.bias) expected += double(bias[std::size_t(i)]);
      for (std::int64_t p = 0; p < c.k; ++p) expected += double(av.at(i, p)) * double(bv.at(p, j / c_col_stride));
      ASSERT_EQ(double(out[index]), expected)
          << kernel.name << " m=" << c.m << " n=" << c.n << " k=" << c.k << " acc=" << c.accumulate
          << " bias=" << c.bias << " tA=" << c.transpose_a << " tB=" << c.transpose_b
          << " stridedC=" << c.strided_c << " at " << i << "," << j / c_col_stride;
    }
  }
}

template <typename T>
void test_all_kernels() {
  std::mt19937 rng(12345);
  int tested = 0;
  for (const GemmKernel<T>& kernel : all_gemm_kernels<T>()) {
    if (!isa_enabled(Isa(kernel.isa))) continue;
    ++tested;
    const std::int64_t mr = kernel.mr, nr = kernel.nr;
    const std::set<std::int64_t> ms{1, mr - 1, mr, mr + 1, 3 * mr + 2, kernel.mc + 5};
    const std::set<std::int64_t> ns{1, 3, nr - 1, nr, nr + 1, 2 * nr + 5};
    const std::set<std::int64_t> ks{1, 2, 7, 19, kernel.kc, kernel.kc + 1, 2 * kernel.kc + 3};
    for (std::int64_t m : ms) {
      for (std::int64_t n : ns) {
        for (std::int64_t k : ks) {
          if (m < 1 || n < 1) continue;
          const int variant = int((m + n + k) % 8);
          run_case<T>(kernel, {m, n, k, bool(variant & 1), bool(variant & 2), bool(variant & 4),
                               bool((m + k) % 2), bool((n + k) % 3 == 0)}, rng);
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
    // Past the nc column block, with every option on.
    run_case<T>(kernel, {mr + 1, kernel.nc + nr + 3, 5, true, true, true, true, true}, rng);
  }
  EXPECT_GT(tested, 0) << "no GEMM kernel is usable on this CPU";
}

TEST(GemmKernels, Float32EveryKernelEveryEdge) { test_all_kernels<float>(); }
TEST(GemmKernels, Float64EveryKernelEveryEdge) { test_all_kernels<double>(); }

TEST(GemmKernels, ActiveKernelRespectsIsaCap) {
  EXPECT_LE(active_gemm_kernel<float>().isa, int(active_isa()));
  EXPECT_LE(active_gemm_kernel<double>().isa, int(active_isa()));
  EXPECT_EQ(active_gemm_kernel<float>().isa, int(active_isa()))
      << "every ISA level has a float kernel in gemm_kernels.inc";
}

}  // namespace
}  // namespace fastconv::detail
