// im2col_engine.hpp — unfold into a workspace + the library's GEMM.
//
// forward:          per image and group, col = unfold(src), dst = W * col (+ bias).
// backward_data:    per image and group, col = W^T * diff_dst, diff_src += fold(col).
// backward_weights: per group, diff_W = sum over images of diff_dst * unfold(src)^T.
// The image is unfolded in chunks of output positions (as many as fit 8 MiB, at least 16), so
// the workspace is independent of the image size: one chunk's unfolded columns
// (C/g * kernel volume * chunk), GEMM packing buffers, a contiguous copy of the weights and the
// bias, and a chunk of dst for views whose spatial axes do not merge into one stride (e.g.
// cropped outputs).
#pragma once

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

const ConvEngine& im2col_engine();

}  // namespace fastconv::detail
