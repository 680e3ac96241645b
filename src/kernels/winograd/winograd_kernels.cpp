// winograd_kernels.cpp — the family table, expanded from winograd_kernels.inc. The transforms
// themselves live in the per-ISA translation units (winograd_kernels_<isa>.cpp).
#include "kernels/winograd/winograd_kernels.hpp"

namespace fastconv::detail {

// Defined in the ISA's translation unit.
#define FASTCONV_WINOGRAD_TRANSFORMS(isa)                                                                  \
  void winograd_input_row_##isa(const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, float*, \
                                std::int64_t, float*);                                                     \
  void winograd_output_##isa(const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,          \
                             std::int64_t, const float*, float*, std::int64_t, std::int64_t);             \
  void winograd_weights_##isa(const float*, std::int64_t, std::int64_t, float*, std::int64_t, float*);
#include "kernels/winograd/winograd_kernels.inc"
#undef FASTCONV_WINOGRAD_TRANSFORMS

namespace {

const WinogradTransforms kWinogradTransforms[] = {
#define FASTCONV_WINOGRAD_TRANSFORMS(isa) \
  {Isa::isa, &winograd_input_row_##isa, &winograd_output_##isa, &winograd_weights_##isa},
#include "kernels/winograd/winograd_kernels.inc"
#undef FASTCONV_WINOGRAD_TRANSFORMS
};

}  // namespace

std::string WinogradTransforms::name() const { return std::string("f32_winograd_f2k3__") + isa_name(isa); }

std::span<const WinogradTransforms> all_winograd_transforms() { return kWinogradTransforms; }

const WinogradTransforms& winograd_transforms(Isa isa) {
  for (const WinogradTransforms& entry : kWinogradTransforms)
    if (entry.isa == isa) return entry;
  return kWinogradTransforms[0];  // unreachable: the list covers every ISA (tested)
}

}  // namespace fastconv::detail
