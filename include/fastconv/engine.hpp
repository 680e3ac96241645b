// fastconv/engine.hpp — the list of convolution engines a caller can ask for.
#pragma once

#include <string_view>

namespace fastconv {

enum class Engine {
  automatic,  // the library chooses: first taker of depthwise, few_channels, pointwise,
              // winograd, implicit_gemm, im2col (engine_registry.cpp documents why)
  reference,  // plain direct loops with double accumulation: the oracle, slow
  im2col,     // unfold into a workspace + packed, cache-blocked GEMM (col2im for the adjoints)
  pointwise,  // 1x1 kernels without padding: one GEMM straight on the operands, no copy
  depthwise,  // direct loops for C/groups == 1 (depthwise, any channel multiplier); no workspace
  implicit_gemm,  // direct/indirect: output channels in vectors, bounded per-thread window packing
  few_channels,   // few input channels per group (C/g <= 4): output pixels in vectors, near bandwidth
  winograd,       // kernels 3 wide at stride 1 along W: Winograd F(2,3) on the implicit-GEMM kernels
};

const char* engine_name(Engine engine);                // "auto", "reference", "im2col", ...
Engine parse_engine(std::string_view name);            // inverse of engine_name; throws on unknown
inline constexpr Engine kAllEngines[] = {Engine::automatic, Engine::reference, Engine::im2col,
                                         Engine::pointwise, Engine::depthwise,
                                         Engine::implicit_gemm, Engine::few_channels,
                                         Engine::winograd};
// The engines unfold and fold run on (ops.hpp): the reference loops and im2col's transforms
// (auto is im2col). They refuse the others with ErrorKind::engine_declined.
inline constexpr Engine kWindowEngines[] = {Engine::automatic, Engine::reference, Engine::im2col};

}  // namespace fastconv
