// few_channels_kernels.cpp — the table of every few-channels kernel, expanded from
// few_channels_kernels.inc (no SIMD code here: the kernels live in the per-ISA units).
#include "kernels/few_channels/few_channels_kernel.hpp"

namespace fastconv::detail {

std::span<const FewChannelsKernel> all_few_channels_kernels() {
  static const FewChannelsKernel kernels[] = {
#define FASTCONV_FEW_CHANNELS_KERNEL(isa, kb, width) \
  {"f32_fewch_" #kb "x" #width "__" #isa, Isa::isa, &f32_fewch_##kb##x##width##__##isa, kb, width},
#include "kernels/few_channels/few_channels_kernels.inc"
#undef FASTCONV_FEW_CHANNELS_KERNEL
  };
  return kernels;
}

}  // namespace fastconv::detail
