// engine_registry.cpp — the engines by id, and Engine::automatic's choice.
//
// The heuristic: the first engine in this order that takes the problem.
//   1. depthwise      C/groups == 1: direct loops doing C/g * kernel-volume work per output
//                     (im2col would run a GEMM with a reduction of only the kernel volume).
//   2. few_channels   forward float32 with C/groups <= 4 (photos, grayscale, thin groups): the
//                     problem is memory-bound; output pixels in vector lanes reach bandwidth,
//                     where output-channel lanes would idle and a GEMM has a reduction of <= 4*kvol.
//   3. pointwise      1x1, stride 1, no padding: a GEMM straight on the operands (its packing
//                     blocks are bounded), every direction and dtype.
//   4. implicit_gemm  every other forward float32 problem: output channels in vector lanes,
//                     bounded per-thread windows, packed weights.
//   5. im2col         everything else (backward directions, float64): explicit unfold + GEMM.
//   6. reference      never reached in practice (im2col takes every problem).
// FASTCONV_VERBOSE=1 prints each plan's choice and every engine's decline reason.
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
       {Engine::depthwise, Engine::few_channels, Engine::pointwise, Engine::implicit_gemm,
        Engine::im2col, Engine::reference}) {
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
