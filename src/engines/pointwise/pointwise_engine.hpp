// pointwise_engine.hpp — 1x1 convolution as a GEMM straight on the operands, no copy.
//
// Takes problems whose kernel is 1 on every spatial axis, with no padding and stride 1 (any
// dilation, groups, output_padding; float32 / float64; any operand strides). With a 1x1 kernel
// each output pixel o reads exactly one input pixel, o * stride, so per image and group:
//   forward:          dst_g[K/g x P]  = W_g[K/g x C/g] * src_g[C/g x P] (+ bias)
//   backward_data:    diff_src_g      = W_g^T * diff_dst_g (+ bias over C: transposed conv)
//   backward_weights: diff_W_g        = sum over images of diff_dst_g * src_g^T; bias = sum
// A [channels x pixels] matrix is read in place: row stride = the channel stride, column
// stride = the pixel stride (1 for NCHW, C for channels-last). The pixel axes (batch and
// spatial) are merged as far as both operands allow (for channels-last the batch merges too);
// axes that do not merge (cropped or permuted views) become a loop of smaller GEMMs, down to
// one GEMM per output row. The driver handles any stride that way, but stride > 1 is declined:
// per-row GEMMs repack the weights for every row and measured 2.3x slower than im2col's
// subsampled copy + one GEMM (ResNet-50 res3_downsample). backward_data with output_padding
// first fills diff_src with the bias (or zero), since the extra pixels get no product.
// Workspace: the GEMM packing buffers (bounded by its cache blocks, independent of the image
// size) and a contiguous copy of a strided bias. The 1x1 weights (K, C/g, 1, 1, 1) are always
// a strided matrix, so they are never copied.
#pragma once

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

const ConvEngine& pointwise_engine();

}  // namespace fastconv::detail
