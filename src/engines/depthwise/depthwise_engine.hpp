// depthwise_engine.hpp — direct depthwise convolution: one input channel per group.
//
// Takes every problem with C/groups == 1 (depthwise with any channel multiplier K/C >= 1; also a
// single-channel input with K filters), any spatial rank, stride, dilation, asymmetric padding,
// operand strides, float32 and float64. Declines everything else ("not depthwise: C/groups = 4").
//
// No im2col, no GEMM; the forward plane kernels' bounded scratch is one workspace slot per
// thread (depthwise_plane_forward.hpp); the other paths need none.
//   forward:          depthwise_plane_forward.hpp: per (image, channel, band of output rows), the
//                     band's input copied once into a zero-padded polyphase buffer, then every
//                     output element as one flat vector loop over the taps (any stride, dilation,
//                     padding, layout); small contiguous stride-1 "same"-width planes read the
//                     image directly with masked loads (AVX-512). Rows too wide for the scratch
//                     budget use the row loops below, in chunks of kRowChunk elements:
//                     per output row: chunk = bias, then per
//                     kernel tap chunk[ow] += w * src[ow * stride + offset] over the tap's valid
//                     range of ow (computed once per tap: no bounds checks in the inner loop).
//   backward_data:    per (image, input channel c), per input row: chunk = bias, then per
//                     filter k of the group and tap, chunk[ow * stride + offset] += w * dst[ow].
//   backward_weights: per filter k and tap, a dot product of src and diff_dst rows over the
//                     valid range, summed over images and output rows; bias = sum of diff_dst.
// The wide-row fallback's common case (finite weights, unit-step rows, kernel width 3 or 5,
// stride 1 or 2, no width dilation) runs fused per-ISA row kernels (depthwise_kernels.hpp).
// Accumulation is in T, in a fixed order per output element (the AVX kernels fuse multiply and
// add), so integer-valued inputs give exact results and runs are
// reproducible across thread counts.
//
// Padding: zeros that take part in the products, as in the reference. A padded tap multiplies
// the weight (forward) or the gradient (backward_weights) by zero, which only matters when that
// value is not finite: then the element becomes NaN, exactly where the reference gives NaN.
#pragma once

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

const ConvEngine& depthwise_engine();

}  // namespace fastconv::detail
