// implicit_gemm_kernels.cpp — the family table, expanded from implicit_gemm_kernels.inc. The
// kernels themselves live in the per-ISA translation units (implicit_gemm_kernels_<isa>.cpp).
#include "kernels/implicit_gemm/implicit_gemm_kernels.hpp"

#include <array>

namespace fastconv::detail {

// Defined in the ISA's translation unit: the entry's kernels for P = 1..pmax.
#define FASTCONV_IGEMM_KERNEL(isa, ocv, pmax)                          \
  const IgemmKernelFn* igemm_kernels_##isa##_##ocv##_##pmax();         \
  void igemm_store_##isa##_##ocv##_##pmax(const float*, int, const IgemmArgs&);
#include "kernels/implicit_gemm/implicit_gemm_kernels.inc"
#undef FASTCONV_IGEMM_KERNEL
// Likewise, once per ISA translation unit.
void igemm_pack_scalar(const float*, std::int64_t, std::int64_t, std::int64_t, float*, std::int64_t);
void igemm_pack_avx2(const float*, std::int64_t, std::int64_t, std::int64_t, float*, std::int64_t);
void igemm_pack_avx512(const float*, std::int64_t, std::int64_t, std::int64_t, float*, std::int64_t);
#define FASTCONV_IGEMM_FILL_ROWS(isa)                                                                  \
  void igemm_fill_rows_##isa(float*, std::int64_t, const float*, std::int64_t, std::int64_t, std::int64_t, \
                             std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t);
FASTCONV_IGEMM_FILL_ROWS(scalar)
FASTCONV_IGEMM_FILL_ROWS(avx2)
FASTCONV_IGEMM_FILL_ROWS(avx512)
#undef FASTCONV_IGEMM_FILL_ROWS

namespace {

constexpr int float_lanes(Isa isa) {
  return isa == Isa::avx512 ? 16 : (isa == Isa::avx2 ? 8 : 4);
}

const IgemmKernel kIgemmKernels[] = {
#define FASTCONV_IGEMM_KERNEL(isa, ocv, pmax) \
  {Isa::isa, ocv, float_lanes(Isa::isa), pmax, igemm_kernels_##isa##_##ocv##_##pmax(), &igemm_pack_##isa, \
   &igemm_fill_rows_##isa, &igemm_store_##isa##_##ocv##_##pmax},
#include "kernels/implicit_gemm/implicit_gemm_kernels.inc"
#undef FASTCONV_IGEMM_KERNEL
};

}  // namespace

std::string IgemmKernel::name(int pixels) const {
  return "f32_igemm_" + std::to_string(pixels) + "x" + std::to_string(ocb()) + "__" + isa_name(isa);
}

std::string IgemmKernel::family_name() const { return name(pmax); }

std::span<const IgemmKernel> all_igemm_kernels() { return kIgemmKernels; }

}  // namespace fastconv::detail
