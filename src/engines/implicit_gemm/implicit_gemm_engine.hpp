// implicit_gemm_engine.hpp — the implicit-GEMM direct convolution engine (forward, float32).
//
// Output channels live in vector lanes, a tile of up to Pmax output pixels of one row in
// register blocking, input values are broadcast (oneDNN's direct-convolution idea, on NCHW or
// any strides without reordering the tensors). The input a run of tiles along one output row
// reads is copied into a bounded per-thread window ([channel][kernel row][span], zero where it
// falls in the padding, de-interleaved by the stride), which makes padding, stride, dilation, layouts and
// 1-D/2-D/3-D uniform for the microkernels (src/kernels/implicit_gemm). Weights are packed as
// [group][block of OCB output channels][channel][tap][OCB], once per plan by pack_weights or per
// channel chunk at run time. One window serves every output-channel block of its group. Takes
// every forward float32 problem; efficient when K/groups >= the vector width.
//
// backward_data float32 (also the transposed convolution; implicit_gemm_backward_data.cpp): per
// phase of the stride, the forward of the kernel flipped with its channel axes swapped (a view
// of the weights), no zero inserted; NaN or infinite weights are redone by the reference engine.
#pragma once

#include <atomic>
#include <memory>

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

const ConvEngine& implicit_gemm_engine();

// The engine's parts backward_data is built from (implicit_gemm_backward_data.cpp): a forward
// float32 convolution prepared by this engine, and its run, reporting in `nonfinite` (when not
// null) a NaN or infinite weight seen while packing.
std::unique_ptr<PreparedConv> prepare_igemm_forward(const ConvProblem& problem);
void run_igemm_forward(const PreparedConv& prepared, const ConvOperands<float>& operands, void* workspace,
                       int threads, std::atomic<bool>* nonfinite);
Preparation prepare_igemm_backward_data(const ConvProblem& problem);

}  // namespace fastconv::detail
