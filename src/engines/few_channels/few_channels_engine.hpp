// few_channels_engine.hpp — direct forward convolution for few input channels per group
// (C/groups <= 4) and thin groups: output pixels in vector lanes, the problem's bandwidth
// rather than a GEMM.
//
// Takes forward float32 problems with C/groups <= 4 (any K/groups), or C/groups <= 16 with
// K/groups <= 16 (ResNeXt-style thin groups), any spatial rank, stride, dilation, asymmetric
// padding, groups and operand strides. Declines the backward directions ("forward only"),
// float64 and wider groups, with the reason.
//
// Per output row (image n, group g, od, oh): every (c, kd, kh) kernel row whose input row is
// inside the image becomes C/g * KD * KH * KW "taps": unit-stride source pointers positioned at
// the first output pixel. A microkernel from kernels/few_channels (chosen per ISA and K/groups by
// a small cost model) computes KB output channels at a time. Rows outside the image vertically
// are skipped (with finite weights; otherwise they read a zero row, so 0 * Inf gives NaN as in
// the reference).
// - Unit-stride source and dst rows at stride 1 with finite weights (the seeds' layers): the
//   whole row in one kernel call for every channel block (one store pipe across them), the taps
//   read in place; a tap reaching into the horizontal padding gets its valid pixel range, and
//   the kernel loads the row's first and last tiles with lane masks (no copy; before, 18 small
//   window copies per row of seed_1024_p1 took 11% of its time). The call splits where the dst
//   row is 64-byte aligned.
// - Otherwise (stride > 1, a non-unit W stride such as channels-last, non-finite weights), in
//   width tiles: taps inside unit-stride rows at stride 1 are read in place, the rest of the
//   row is copied into a per-thread window, zeros in the padding and one unit-stride row per
//   stride phase. A short row with padded edges is one window tile (one kernel call) rather than
//   three. Output with a non-unit W stride goes through a per-thread tile buffer.
// Outputs above 4 MiB per thread (far beyond a core's L2) are stored with non-temporal stores
// where rows are vector-aligned: no read for ownership, which halves the memory traffic of a
// layer that writes far more than it reads (seed_1024_p1 writes 64 MiB from 12 MiB of input).
// The kernels stream each tile's results out during the next tile's taps (a store pipe).
//
// Small 2-D planes at stride 1 (padded planes of the group plus the output fit in 256 KiB) run in
// plane mode instead: the group's C/g input planes are copied once, zero-padded, into rows of
// the padded width Wp, so output pixel oh * Wp + ow reads tap (kh, kw) at the constant offset
// kh * dh * Wp + kw * dw and one kernel call per channel block computes the whole plane (the
// Wp - OW columns past each row's end are computed and dropped when copying out).
//
// Workspace: the packed weights and bias (unless ConvPlan::pack_weights made them) plus, per
// thread, windows of at most about 256 (+ kernel span) pixels per kernel row, or the bounded
// plane-mode buffers: independent of the image size. Threads: one parallel region over the output rows of every image and group.
#pragma once

#include <cstdint>

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

// The engine's limits (also read by auto's heuristic in engine_registry.cpp).
inline constexpr std::int64_t kFewChannelsMaxPerGroup = 4;     // C/groups, any K/groups
inline constexpr std::int64_t kFewChannelsMaxThinGroup = 16;   // C/groups and K/groups of a thin group

const ConvEngine& few_channels_engine();

}  // namespace fastconv::detail
