// reference_conv.hpp — the reference engine: plain direct loops, double accumulation.
//
// Every other engine is checked against it. Clarity over speed: one loop nest per direction,
// written straight from the definition of convolution.
#pragma once

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

const ConvEngine& reference_engine();

}  // namespace fastconv::detail
