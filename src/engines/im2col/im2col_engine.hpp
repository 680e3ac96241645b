// im2col_engine.hpp — unfold into a workspace + the library's GEMM.
//
// forward:          per image and group, col = unfold(src), dst = W * col (+ bias).
// backward_data:    per image and group, col = W^T * diff_dst, diff_src += fold(col).
// backward_weights: per group, diff_W = sum over images of diff_dst * unfold(src)^T.
// Workspace: one group's unfolded image (C/g * kernel volume * output pixels) plus GEMM
// packing buffers, a contiguous copy of the weights and the bias. Views whose spatial axes do
// not merge into one stride (e.g. cropped outputs) cost an extra temporary at run time.
#pragma once

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

const ConvEngine& im2col_engine();

}  // namespace fastconv::detail
