// tests/support/engines.hpp — which engines the shape-generic tests run on.
//
// The tests that use fixed, arbitrary problems (known values, identities, robustness, errors,
// plan info) run on every engine that takes every convolution problem. Specialised engines
// (pointwise, depthwise, ...) decline most of those shapes with a reason, so each has its own
// test program with problems it takes, checked against the reference, plus a check of its
// decline reasons and of `auto` choosing it.
#pragma once

#include "fastconv/engine.hpp"

namespace fctest {

inline constexpr fastconv::Engine kGeneralEngines[] = {
    fastconv::Engine::automatic, fastconv::Engine::reference, fastconv::Engine::im2col};

// Engines that take every FORWARD float32 convolution but decline float64 and the other
// directions, so kGeneralEngines cannot list them; tests of forward problems run on these too.
inline constexpr fastconv::Engine kForwardFloat32Engines[] = {fastconv::Engine::implicit_gemm};

}  // namespace fctest
