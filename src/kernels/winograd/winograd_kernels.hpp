// winograd_kernels.hpp — the Winograd F(2,3) transform family (along one row): interface and the
// table expanded from winograd_kernels.inc. The products between the transforms are implicit-GEMM
// microkernel calls (kernels/implicit_gemm); see engines/winograd for the whole method.
//
// With a row's tile p covering input columns x0 + 2p .. x0 + 2p + 3 (d0..d3) and output columns
// 2p, 2p + 1, and kernel taps g0, g1, g2:
//   inputs   V0 = d0 - d2, V1 = d1 + d2, V2 = d2 - d1, V3 = d1 - d3
//   weights  U0 = g0, U1 = (g0 + g1 + g2) / 2, U2 = (g0 - g1 + g2) / 2, U3 = g2
//   outputs  y(2p) = M0 + M1 + M2, y(2p + 1) = M1 - M2 - M3   where M_e = sum of U_e * V_e
// Every factor is 1 or 1/2, so integer-valued inputs give exact results.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "isa/cpu_isa.hpp"

namespace fastconv::detail {

// The transforms report on what they read in check_lanes[0, 2 * kWinogradCheckLanes) (64-byte
// aligned; spread over the lanes in any way; callers start from zeros and may pass the same
// lanes to several calls): lanes [0, 16) accumulate a sum that stays finite exactly when every
// value read is finite (and not huge), lanes [16, 32) keep the largest magnitude seen.
inline constexpr int kWinogradCheckLanes = 16;

// Input transform of one input row into `count` tiles. d_j is the row's value at column
// x = x0 + 2p + j, read at row[x * step], or 0 when x is outside [0, width) (never read there):
//   v[e * e_stride + p] = V_e(p)   for e < 4, p < count.
// Tiles [count, round_up(count, 16)) of each V_e row may be written as well (with any value).
// Check lanes: the sum of the products V0 * V3 of the tiles, which stays finite when every value
// read is finite and becomes Inf or NaN when one is (each column enters V0 or V3; huge finite
// values may overflow it too: callers treat that like an Inf), and the largest |d| read (the
// values of the columns the vectors cover; |V_e| <= 2 max |d|), from which callers tell
// whether the products and sums that follow can overflow. (Lanes, not one value: a
// horizontal reduction per row would cost more than a short row's transform.)
using WinogradInputRowFn = void (*)(const float* row, std::int64_t step, std::int64_t x0, std::int64_t width,
                                    std::int64_t count, float* v, std::int64_t e_stride, float* check_lanes);

// Output transform of `channels` channels x `pixels` tiles, with M_e of channel j, tile p at
// products[e * e_stride + j * channel_stride + p] (readable up to p < round_up(pixels, 16)):
//   out[j * out_channel_stride + c * out_column_stride] = y(c) + bias[j] (bias may be null)
// for the columns c < columns (columns <= 2 * pixels).
using WinogradOutputFn = void (*)(const float* products, std::int64_t e_stride, std::int64_t channel_stride,
                                  std::int64_t channels, std::int64_t pixels, std::int64_t columns,
                                  const float* bias, float* out, std::int64_t out_channel_stride,
                                  std::int64_t out_column_stride);

// Weight transform of `rows` kernel rows of `width` filters each: with g_kw at
// t[(r * 3 + kw) * width + j] (the three taps along W of filter j, kernel row r),
//   u[e * e_stride + r * width + j] = U_e      for e < 4, r < rows, j < width,
// and in the check lanes: the sum of g0 + g1 + g2 of each filter (finite exactly when the
// weights are, or some are huge) and max |g|.
using WinogradWeightsFn = void (*)(const float* t, std::int64_t rows, std::int64_t width, float* u,
                                   std::int64_t e_stride, float* check_lanes);

// One entry of the list: the transforms of one ISA.
struct WinogradTransforms {
  Isa isa;
  WinogradInputRowFn input_row;
  WinogradOutputFn output;
  WinogradWeightsFn weights;
  std::string name() const;  // f32_winograd_f2k3__<isa>
};

// Every entry of winograd_kernels.inc, in list order (including ISAs this CPU lacks).
std::span<const WinogradTransforms> all_winograd_transforms();

// The entry of `isa` (every ISA has one).
const WinogradTransforms& winograd_transforms(Isa isa);

}  // namespace fastconv::detail
