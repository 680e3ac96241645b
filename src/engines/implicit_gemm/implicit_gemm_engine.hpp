// implicit_gemm_engine.hpp — (being written) see engine.hpp for the engine's one-line description.
#pragma once

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

const ConvEngine& implicit_gemm_engine();

}  // namespace fastconv::detail
