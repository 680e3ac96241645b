// engine_registry.cpp — the engines by id, and Engine::automatic's choice.
//
// The heuristic today: depthwise takes every problem with one input channel per group (its
// direct loops do C/groups * kernel volume work per output, where im2col would unfold and run a
// GEMM with a reduction of only the kernel volume); pointwise takes the other 1x1 kernels with
// stride 1 and no padding (the GEMM runs straight on the operands: no unfolded copy, NCHW and
// channels-last); im2col takes everything else, strided 1x1 included. Later engines slot in
// ahead of im2col with their own decline reasons.
#include <string>

#include "engines/conv_engine.hpp"
#include "engines/depthwise/depthwise_engine.hpp"
#include "engines/few_channels/few_channels_engine.hpp"
#include "engines/im2col/im2col_engine.hpp"
#include "engines/implicit_gemm/implicit_gemm_engine.hpp"
#include "engines/pointwise/pointwise_engine.hpp"
#include "engines/reference/reference_conv.hpp"
#include "fastconv/error.hpp"

namespace fastconv::detail {

const ConvEngine& engine_instance(Engine id) {
  switch (id) {
    case Engine::reference: return reference_engine();
    case Engine::im2col: return im2col_engine();
    case Engine::pointwise: return pointwise_engine();
    case Engine::depthwise: return depthwise_engine();
    case Engine::implicit_gemm: return implicit_gemm_engine();
    case Engine::few_channels: return few_channels_engine();
    case Engine::automatic: break;
  }
  throw Error(ErrorKind::invalid_argument,
              std::string("engine_instance: no engine behind '") + engine_name(id) + "'");
}

Engine choose_engine(Direction direction, const ConvGeometry& geometry, DType dtype,
                     std::string* why) {
  // Preference order; the reference engine is the last resort.
  for (Engine candidate :
       {Engine::depthwise, Engine::pointwise, Engine::im2col, Engine::reference}) {
    const std::string reason = engine_instance(candidate).decline_reason(direction, geometry, dtype);
    if (reason.empty()) {
      if (why) *why += std::string(engine_name(candidate)) + ": chosen";
      return candidate;
    }
    if (why) *why += std::string(engine_name(candidate)) + ": declined (" + reason + "); ";
  }
  return Engine::reference;
}

}  // namespace fastconv::detail
