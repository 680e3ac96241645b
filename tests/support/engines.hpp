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

}  // namespace fctest
