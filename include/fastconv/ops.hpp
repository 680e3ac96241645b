// fastconv/ops.hpp — one-call operations.
//
// Each convolution call takes its ConvPlan from the plan cache (plan_cache.hpp: planned once per
// problem, thread count and settings) and runs it; hold a ConvPlan to also pack weights. Operands follow PyTorch's layouts (see plan.hpp). A null bias
// pointer means no bias. Everything is validated before any output is written.
#pragma once

#include <cstdint>
#include <span>

#include "fastconv/engine.hpp"
#include "fastconv/params.hpp"
#include "fastconv/tensor.hpp"

namespace fastconv {

void conv_forward(const TensorView& src, const TensorView& weight, const TensorView* bias,
                  const TensorView& dst, const ConvParams& params,
                  Engine engine = Engine::automatic);

void conv_transpose_forward(const TensorView& src, const TensorView& weight,
                            const TensorView* bias, const TensorView& dst,
                            const ConvParams& params, Engine engine = Engine::automatic);

void conv_backward_data(const TensorView& diff_dst, const TensorView& weight,
                        const TensorView& diff_src, const ConvParams& params,
                        Engine engine = Engine::automatic);

void conv_backward_weights(const TensorView& src, const TensorView& diff_dst,
                           const TensorView& diff_weight, const TensorView* diff_bias,
                           const ConvParams& params, Engine engine = Engine::automatic);

// unfold (im2col): src (N, C, spatial...) -> dst (N, C * prod(kernel), L), L = number of
// windows; row index is (c, k_0, k_1, ...) row-major, column index the window position
// row-major. Identical to torch.nn.functional.unfold for 2-D. Uses params' stride, dilation
// and padding (groups and output_padding must be left at their defaults). `engine`: one of
// kWindowEngines (engine.hpp); the others throw ErrorKind::engine_declined. C = 0 or N = 0 give
// empty results.
void unfold(const TensorView& src, const TensorView& dst, std::span<const std::int64_t> kernel_size,
            const ConvParams& params, Engine engine = Engine::automatic);

// fold (col2im), the adjoint of unfold: src (N, C * prod(kernel), L) -> dst (N, C, spatial...),
// summing overlapping window values. The output size is dst's spatial shape.
void fold(const TensorView& src, const TensorView& dst, std::span<const std::int64_t> kernel_size,
          const ConvParams& params, Engine engine = Engine::automatic);

// windows: a zero-copy strided view of every kernel window of src, shape
// (N, C, out_0, ..., out_{d-1}, k_0, ..., k_{d-1}), as numpy's as_strided / skimage's
// view_as_windows give. No padding (pad the input yourself). The view aliases src's memory.
// Its strides are src.strides[2 + i] * stride[i] and src.strides[2 + i] * dilation[i]; a product
// that does not fit 64 bits throws fastconv::Error (overflow), even on an axis with one window.
// src must meet tensor.hpp's requirements of an input (non-null, aligned, byte range in range).
TensorView windows(const TensorView& src, std::span<const std::int64_t> kernel_size,
                   std::span<const std::int64_t> stride, std::span<const std::int64_t> dilation);

}  // namespace fastconv
