// fastconv/custom/op_table.hpp — an inner operation as compiled: the table of kernels through
// which the library's engines run it. Filled by FASTCONV_CUSTOM_OP (fastconv/custom.hpp) in
// each ISA's translation unit, for the library's catalog and for a user's operations alike.
//
// Reduced values are the operation before its epilogue:
//   z(x, w) = combine(x, w, p),   y = REDUCE over the window of z,   out = epilogue(y, b, p)
// with x the (padded) input value, w the weight, b the bias and p the operation's parameters.
#pragma once

#include <cstdint>

namespace fastconv {

// How the combined values of one output's window are reduced (fastconv/inner_op.hpp).
enum class Reduce { sum, max, min, logsumexp };

}  // namespace fastconv

namespace fastconv::custom {

inline constexpr int kMaxParams = 8;      // scalar parameters an operation may read
inline constexpr int kMaxTilePixels = 32;  // widest channel tile of any ISA

// Forward tile, output channels in vector lanes (the implicit-GEMM window layout of
// src/kernels/implicit_gemm): for p < P and j < OCB,
//   tile[p * OCB + j] = REDUCE over c < channels, t < taps of
//       combine(window[c * window_channel_stride + tap_offsets[t] + p], weights[(c * taps + t) * OCB + j])
// For logsumexp the tile gets y = m + log(sum exp(z - m)) with m the window's max (-Inf for an
// all -Inf window). NaN: a NaN combined value makes its output NaN, for every reduce.
struct ChannelTileArgs {
  const float* window = nullptr;
  std::int64_t window_channel_stride = 0;
  const std::int64_t* tap_offsets = nullptr;
  std::int64_t taps = 0;
  std::int64_t channels = 0;
  const float* weights = nullptr;  // [channels][taps][OCB]
  const float* params = nullptr;   // the operation's parameters
  float* tile = nullptr;           // [P][OCB]
};
using ChannelTileFn = void (*)(const ChannelTileArgs& args);

// Pixel-lane kernels over an unfolded chunk: cols[r * cols_stride + q] is input value r
// (channel c, tap t of the group, r = c * taps + t) of chunk position q, for r < rows,
// q < pixels; weights[k * weights_stride + r] is w[k][c][t] for k < filters. With row_offsets
// (cols_reduce only), input value r of position q is cols[row_offsets[r] + q] instead: the taps
// of a stride-1 convolution as shifted views of one padded plane, without an unfold.
struct ColsArgs {
  const float* cols = nullptr;
  std::int64_t cols_stride = 0;
  const std::int64_t* row_offsets = nullptr;
  std::int64_t rows = 0;
  std::int64_t pixels = 0;
  const float* weights = nullptr;
  std::int64_t weights_stride = 0;
  std::int64_t filters = 0;
  const float* params = nullptr;
  // cols_reduce: out[k * out_stride + q] = y (as the channel tile's). cols_argext (max / min):
  // index[k * out_stride + q] = the first r with the extreme value (-1 for an empty window; a NaN
  // value counts as the extreme).
  float* out = nullptr;
  std::int32_t* index = nullptr;
  std::int64_t out_stride = 0;
  // Backward (sum and logsumexp): with g[k * g_stride + q] = dL/dy and, for logsumexp, the
  // reduced y[k * g_stride + q], the weight of z_r is s = 1 (sum) or exp(z_r - y) (logsumexp; a
  // term of weight 0 adds nothing, even where its derivative is infinite):
  //   cols_backward_data:    dcols[r * cols_stride + q] = sum over k of g s combine_dx(x, w)
  //   cols_backward_weights: dweights[k * weights_stride + r] += sum over q of g s combine_dw(x, w)
  const float* g = nullptr;
  const float* y = nullptr;
  std::int64_t g_stride = 0;
  float* dcols = nullptr;
  float* dweights = nullptr;
};
using ColsFn = void (*)(const ColsArgs& args);

// Element-wise epilogue over `count` values: values[i] = f(values[i], bias[i], params) where f
// is the epilogue or its derivative in y or b (the derivatives read the reduced y in values).
using EpilogueBlockFn = void (*)(float* values, const float* bias, std::int64_t count,
                                 const float* params);

// Channel tiles of one shape: OCB = ocv * lanes output channels, P = 1..pmax pixels.
struct ChannelTileFamily {
  int ocv = 0;
  int pmax = 0;
  const ChannelTileFn* tiles = nullptr;  // [pmax], P - 1
};
inline constexpr int kTileFamilies = 2;  // two vectors of channels, and one (for K/groups <= lanes)

// The kernels of one ISA.
struct OpIsaKernels {
  int isa = 0;  // 0 portable, 1 AVX2 + FMA, 2 AVX-512F (fastconv's Isa levels)
  int lanes = 0;  // floats per vector
  ChannelTileFamily channel_tiles[kTileFamilies];
  ColsFn cols_reduce = nullptr;
  ColsFn cols_argext = nullptr;            // max and min only
  ColsFn cols_backward_data = nullptr;     // sum and logsumexp, with derivatives
  ColsFn cols_backward_weights = nullptr;  // sum and logsumexp, with derivatives
  EpilogueBlockFn epilogue = nullptr;      // operations with their own epilogue
  EpilogueBlockFn epilogue_dy = nullptr;
  EpilogueBlockFn epilogue_db = nullptr;
};

using ScalarFn = double (*)(double a, double b, const double* params);

// One inner operation.
struct OpTable {
  const char* name = nullptr;
  Reduce reduce = Reduce::sum;
  int param_count = 0;
  bool has_epilogue = false;     // its own epilogue (else the InnerOp's: y + b by default)
  bool has_derivatives = false;  // combine_dx and combine_dw (and the epilogue's, if it has one)
  // Scalar forms (the reference engine, and the per-element steps of max / min gradients).
  ScalarFn combine = nullptr;
  ScalarFn combine_dx = nullptr;
  ScalarFn combine_dw = nullptr;
  ScalarFn epilogue = nullptr;  // (y, b)
  ScalarFn epilogue_dy = nullptr;
  ScalarFn epilogue_db = nullptr;
  const OpIsaKernels* isas[3] = {nullptr, nullptr, nullptr};  // by ISA level; null if not built
};

}  // namespace fastconv::custom
