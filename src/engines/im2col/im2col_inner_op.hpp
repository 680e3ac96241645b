// im2col_inner_op.hpp — the im2col engine for inner operations other than the convolution
// (fastconv/inner_op.hpp), float32, every direction: the image is unfolded in chunks of output
// positions (as for the GEMM path, with the op's pad value), and the op's pixel-lane kernels
// (fastconv/custom/op_kernels.hpp: cols_reduce, cols_argext, cols_backward_data,
// cols_backward_weights) reduce each chunk, split over the threads by filters or rows.
//   forward:          y = cols_reduce, then the epilogue, stored into dst.
//   backward_data:    dL/dy = dL/dout * epilogue_dy(y, b) (y recomputed when needed), then
//                     dcols = cols_backward_data (sum, logsumexp) or routed to each output's
//                     first extreme (max, min), folded (col2im) into dL/dx.
//   backward_weights: the same dL/dy; dL/dw accumulated over the chunks by
//                     cols_backward_weights or by routing; dL/db = sum of dL/dout * epilogue_db.
// Workspace: the chunk's buffers (<= budget_bytes, at least 16 positions) and a copy of the
// weights (and of one group's dL/dw), independent of the image size and batch.
#pragma once

#include <cstddef>

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

std::size_t im2col_op_workspace_bytes(Direction direction, const ConvGeometry& geometry, std::int64_t budget_bytes);
void im2col_op_run(Direction direction, const ConvGeometry& geometry, std::int64_t budget_bytes, const InnerOp& op,
                   const ConvOperands<float>& operands, void* workspace, int threads);

}  // namespace fastconv::detail
