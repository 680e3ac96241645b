// reference_inner_op.hpp — the reference engine's loops for inner operations other than the
// convolution (reference_inner_op.cpp documents the maths), in double, every direction.
#pragma once

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

template <typename T>
void reference_op_forward(const ConvGeometry& g, const InnerOp& op, const ConvOperands<T>& operands, int threads);
template <typename T>
void reference_op_backward_data(const ConvGeometry& g, const InnerOp& op, const ConvOperands<T>& operands,
                                int threads);
template <typename T>
void reference_op_backward_weights(const ConvGeometry& g, const InnerOp& op, const ConvOperands<T>& operands,
                                   int threads);

}  // namespace fastconv::detail
