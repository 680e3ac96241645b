// degenerate_runs.hpp — runs of convolutions with nothing to multiply, handled once for every
// engine.
//
// A problem is degenerate when the batch N, the input channels C or the output channels K is
// zero (spatial sizes are always >= 1). Then every output element is an empty sum plus, where
// the direction has one, its bias:
//   forward           dst (N, K, out...) = bias[k], or 0 without bias (C = 0; nothing to write
//                     when N or K is 0)
//   backward_data     src (N, C, in...) = bias[c], or 0 (the transposed convolution's bias is
//                     on this side; K = 0; nothing to write when N or C is 0)
//   backward_weights  weight (K, C/g, k...) = 0 (N = 0; empty when K or C is 0) and
//                     bias[k] = sum of dst over batch and space (0 when N is 0)
// These follow from the definition (an empty sum is zero): a C = 0 convolution equals a C = 1
// convolution of an all-zero image, a K = 0 one the first 0 output channels of a K = 1 one.
// Operands use the forward roles of conv_engine.hpp.
#pragma once

#include "engines/conv_engine.hpp"
#include "plan/conv_geometry.hpp"

namespace fastconv::detail {

// True when N, C or K is zero.
bool is_degenerate(const ConvGeometry& geometry);

// When the problem is degenerate, writes its outputs as above and returns true; otherwise
// returns false without touching anything (an engine then runs the problem).
template <typename T>
bool run_if_degenerate(Direction direction, const ConvGeometry& geometry,
                       const ConvOperands<T>& operands);

extern template bool run_if_degenerate<float>(Direction, const ConvGeometry&,
                                              const ConvOperands<float>&);
extern template bool run_if_degenerate<double>(Direction, const ConvGeometry&,
                                               const ConvOperands<double>&);

}  // namespace fastconv::detail
