// depthwise_plane_forward.hpp — the depthwise engine's forward pass by plane kernels
// (depthwise_plane_kernels.hpp): any stride, dilation, padding, channel multiplier, rank and
// layout, in bands of output rows whose polyphase input copy fits a bounded per-thread buffer.
//
// One OpenMP parallel region per run; its work items are (image, input channel, output depth
// slice, band of output rows), split statically. An item copies its band of the input slice once
// (per depth tap) and computes every output channel of the group (channel multiplier) from it.
// Scratch per thread (a workspace slot of depthwise_plane_slot_bytes): at most
// kPlaneBufferBytes + kPlaneAccBytes plus one filter, independent of the image size.
#pragma once

#include <cstddef>
#include <vector>

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

// Per-thread buffer budgets (bytes): the polyphase input band and the band's accumulators.
inline constexpr std::int64_t kPlaneBufferBytes = 32 * 1024;
inline constexpr std::int64_t kPlaneAccBytes = 16 * 1024;

// The polyphase buffer's shape for a problem: which phases the taps use, the pitch, the band
// height and each tap's offset (PlaneLayout points into the vectors). band_rows == 0 when one
// output row does not fit the budgets (the caller then uses its row-chunked loops).
struct PlanePlan {
  std::vector<std::int64_t> phase_row, phase_col, tap_offsets;
  std::int64_t pitch = 0, phase_rows = 0, band_rows = 0, bands = 0;
  std::int64_t buffer_elements = 0, acc_elements = 0;
  std::size_t slot_bytes = 0;  // one thread's scratch
  bool fits() const { return band_rows > 0; }
};
PlanePlan make_plane_plan(const ConvGeometry& g, std::int64_t element_bytes);

// The forward convolution (C/groups == 1) for a plan that fits, on up to `threads` threads, with
// `threads` slots of plan.slot_bytes at `workspace` (64-byte aligned).
template <typename T>
void depthwise_plane_forward(const ConvGeometry& g, const PlanePlan& plan,
                             const ConvOperands<T>& operands, std::byte* workspace, int threads);

}  // namespace fastconv::detail
