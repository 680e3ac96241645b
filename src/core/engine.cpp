// engine.cpp — engine names.
#include "fastconv/engine.hpp"

#include <string>

#include "fastconv/error.hpp"

namespace fastconv {

const char* engine_name(Engine engine) {
  switch (engine) {
    case Engine::automatic: return "auto";
    case Engine::reference: return "reference";
    case Engine::im2col: return "im2col";
    case Engine::pointwise: return "pointwise";
    case Engine::depthwise: return "depthwise";
    case Engine::implicit_gemm: return "implicit_gemm";
    case Engine::few_channels: return "few_channels";
    case Engine::winograd: return "winograd";
  }
  return "unknown";
}

Engine parse_engine(std::string_view name) {
  for (Engine engine : kAllEngines) {
    if (name == engine_name(engine)) return engine;
  }
  std::string known;
  for (Engine engine : kAllEngines) known += std::string(known.empty() ? "" : ", ") + engine_name(engine);
  throw Error(ErrorKind::invalid_argument,
              "parse_engine: unknown engine '" + std::string(name) + "'; known engines: " + known);
}

}  // namespace fastconv
