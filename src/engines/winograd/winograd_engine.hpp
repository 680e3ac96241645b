// winograd_engine.hpp — Winograd F(2,3) along the width, on the implicit-GEMM microkernels
// (forward, float32).
//
// For kernels 3 wide at unit stride and dilation along W, two output columns (a "tile") take
// four products per input channel and kernel row instead of six:
//   U = (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2)    (the 3 weights along W, per plan run)
//   V = (d0 - d2, d1 + d2, d2 - d1, d1 - d3)                  (4 input columns 2t - pad .. + 3)
//   m_e = sum over channels and kernel rows (kd, kh) of U_e V_e,
//   y[2t] = m0 + m1 + m2,  y[2t + 1] = m1 - m2 - m3  (+ bias).
// Each m_e is an implicit GEMM with kernel rows as taps: the microkernel of implicit_gemm runs
// on a per-thread window of transformed inputs V_e[channel][kd][input row][tile] (zero where the
// input is padding), writing m_e for OCB channels x up to Pmax tiles; the output transform
// interleaves the two columns and adds the bias. 2 x 3 multiply-adds per output become 4 per two
// outputs (1.5x fewer); the factors are 1 and 1/2, so integer-valued inputs stay exact. The three
// transforms are a per-ISA kernel family (kernels/winograd).
//
// A window covers a band of output rows (up to 16) and a block of tiles of their rows, so each
// input row is transformed once per band, not once per kernel row reading it. On rows of one
// block at stride_h 1 the window rows are exactly the row's tiles apart: a kernel call then
// spans output rows (ResNet's 14x14 and 7x7 layers keep full 14-tile calls).
//
// Takes forward float32 with groups = 1 and KW = 3, stride_w = 1 (any padding, any KD, KH,
// strides and dilations in D and H, any layouts), when a window of Pmax tiles of one output row
// fits the per-thread budget; declines otherwise, with the reason. Dilation d > 1 along W runs
// as d problems, one per phase of the output's columns (d * j + r), each reading one phase of
// the input's columns with the kernel undilated: views with d times the W strides, no copy. Inputs or weights
// that are not all finite are computed by implicit_gemm instead (the transform's differences
// would turn an Inf into NaN where the direct sum gives Inf), so NaN and Inf propagate as in the
// reference; so are finite inputs so large that the transformed products and sums could
// overflow where the direct sum does not (a window's largest |input| above FLT_MAX / 2 / (9 * C
// * KD * KH * max |g|) of an output-channel block: the transforms report both magnitudes as they
// go, so the check costs no extra pass).
//
// Workspace: the transformed weights of as many blocks of OCB output channels as fit
// kWinogradWeightsBudget (4 x C x KD x KH x OCB floats per block; larger layers run block chunks
// one after the other, transforming their windows again unless a thread's window is unchanged),
// plus, per thread, the window (<= kWinogradWindowBudget bytes) and 4 x OCB x Pmax (rounded up
// to 16) floats of products; or implicit_gemm's, whichever is larger (for the fallback). A plan
// given the weights (pack_weights) transforms all blocks once and holds them itself.
#pragma once

#include <cstdint>

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

inline constexpr std::int64_t kWinogradWindowBudget = 512 * 1024;    // bytes per thread
inline constexpr std::int64_t kWinogradWeightsBudget = 1024 * 1024;  // transformed weights, bytes

// Where `auto` takes it (engine_registry.cpp), from fastconv-bench against implicit_gemm on
// AVX-512 and AVX2 (BENCHMARKS.md, session 8): reductions C * KD * KH from 96 to 1024 (above, a weight
// chunk holds one block of output channels: two threads cannot share a one-window layer), at
// least 32 output channels (one kernel block) and output rows of at least 14.
inline constexpr std::int64_t kWinogradAutoMinReduction = 96;
inline constexpr std::int64_t kWinogradAutoMaxReduction = 1024;
inline constexpr std::int64_t kWinogradAutoMinOutChannels = 32;
inline constexpr std::int64_t kWinogradAutoMinWidth = 14;

const ConvEngine& winograd_engine();

}  // namespace fastconv::detail
