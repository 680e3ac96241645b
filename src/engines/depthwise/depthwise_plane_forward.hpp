// depthwise_plane_forward.hpp — the depthwise engine's forward pass by plane kernels
// (depthwise_plane_kernels.hpp): any stride, dilation, padding, channel multiplier, rank and
// layout, in bands of output rows whose polyphase input copy fits a bounded per-thread buffer.
//
// One OpenMP parallel region per run; its work items are (image, input channel, output depth
// slice, band of output rows), split statically. An item copies its band of the input slice once
// (per depth tap) and computes every output channel of the group (channel multiplier) from it.
// Scratch per thread: at most kPlaneBufferBytes + kPlaneAccBytes, independent of the image size.
#pragma once

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

// Per-thread buffer budgets (bytes): the polyphase input band and the band's accumulators.
inline constexpr std::int64_t kPlaneBufferBytes = 32 * 1024;
inline constexpr std::int64_t kPlaneAccBytes = 16 * 1024;

// Whether one output row fits the budgets (otherwise the caller uses its row-chunked loops).
bool depthwise_plane_forward_fits(const ConvGeometry& g, std::int64_t element_bytes);

// The forward convolution (C/groups == 1); requires depthwise_plane_forward_fits.
template <typename T>
void depthwise_plane_forward(const ConvGeometry& g, const ConvOperands<T>& operands);

}  // namespace fastconv::detail
