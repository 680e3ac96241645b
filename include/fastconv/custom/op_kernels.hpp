// fastconv/custom/op_kernels.hpp — the kernels of an inner operation, written once over a vector
// type and instantiated per ISA (contracts in fastconv/custom/op_table.hpp).
//
// Included by fastconv/custom.hpp in a translation unit compiled for one ISA, with
// FASTCONV_CUSTOM_ISA = 0 (portable, 128-bit vectors), 1 (AVX2 + FMA, 256-bit) or 2 (AVX-512F,
// 512-bit) and that ISA's compiler flags (the CMake function fastconv_add_custom_ops does this).
// Everything here is a template over the ISA's vector type, so the ISAs' instantiations are
// distinct symbols; the operation's functions are only ever instantiated on that vector type
// (and, in the portable unit, on double for the scalar forms).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

#include "fastconv/custom/op_table.hpp"
#include "fastconv/custom/vector_math.hpp"

namespace fastconv::custom {

// ---- what an operation may define (fastconv/custom.hpp documents the protocol) ------------------

template <typename Op, typename V>
concept HasCombineDx = requires(V v, const V* p) { Op::combine_dx(v, v, p); };
template <typename Op, typename V>
concept HasCombineDw = requires(V v, const V* p) { Op::combine_dw(v, v, p); };
template <typename Op, typename V>
concept HasEpilogue = requires(V v, const V* p) { Op::epilogue(v, v, p); };
template <typename Op, typename V>
concept HasEpilogueDy = requires(V v, const V* p) { Op::epilogue_dy(v, v, p); };
template <typename Op, typename V>
concept HasEpilogueDb = requires(V v, const V* p) { Op::epilogue_db(v, v, p); };

template <typename Op>
constexpr int param_count() {
  if constexpr (requires { Op::params; }) {
    return Op::params;
  } else {
    return 0;
  }
}

// The channel tiles' pixel count cap: Op::max_tile_pixels where given (at least 1), else none.
template <typename Op>
constexpr int max_tile_pixels() {
  if constexpr (requires { Op::max_tile_pixels; }) {
    static_assert(Op::max_tile_pixels >= 1, "fastconv custom op: max_tile_pixels must be at least 1");
    return Op::max_tile_pixels;
  } else {
    return 1 << 20;
  }
}

namespace kernels {

using vmath::element_t;
using vmath::lanes;
using vmath::mask_t;
using vmath::select;
using vmath::splat;

template <typename V>
FASTCONV_VMATH_INLINE V load(const float* from) {
  V value;
  std::memcpy(&value, from, sizeof(V));
  return value;
}
template <typename V>
FASTCONV_VMATH_INLINE void store(float* to, V value) {
  std::memcpy(to, &value, sizeof(V));
}

// The operation's parameters, each broadcast to every lane (at least one entry).
template <typename Op, typename V>
struct Params {
  V values[param_count<Op>() > 0 ? param_count<Op>() : 1];
  explicit Params(const float* params) {
    for (int i = 0; i < param_count<Op>(); ++i) values[i] = splat<V>(params[i]);
  }
  const V* get() const { return values; }
};

template <typename V>
constexpr element_t<V> infinity() {
  return std::numeric_limits<element_t<V>>::infinity();
}

// The identity of a reduction, and one step of it. max and min take a NaN value and keep it.
template <Reduce R, typename V>
FASTCONV_VMATH_INLINE V reduce_identity() {
  if constexpr (R == Reduce::sum) return splat<V>(0);
  if constexpr (R == Reduce::max || R == Reduce::logsumexp) return splat<V>(-infinity<V>());
  if constexpr (R == Reduce::min) return splat<V>(infinity<V>());
}
template <Reduce R, typename V>
FASTCONV_VMATH_INLINE V reduce_step(V acc, V z) {
  if constexpr (R == Reduce::sum) {
    return acc + z;
  } else {
    // x86's max (min) returns its second operand when a lane is NaN, so max(z, acc) keeps a NaN
    // already in acc; a NaN z is put in by the select (one compare per step, not two and an or).
    const V extreme = R == Reduce::min ? vmath::min(z, acc) : vmath::max(z, acc);  // max also for logsumexp's first pass
    return select<V>(z != z, z, extreme);
  }
}

// logsumexp in two passes: the window's max m, then s = sum of exp(z - m') with m' = m where
// finite (else 0); y = m' + log(s) for a finite m, else m itself (an all -Inf window gives -Inf,
// a +Inf or NaN value gives +Inf or NaN), so the second pass may assume z - m' <= 0.
template <typename V>
FASTCONV_VMATH_INLINE V finite_or_zero(V m) {
  return select<V>(vmath::abs(m) < splat<V>(infinity<V>()), m, splat<V>(0));
}
template <typename V>
FASTCONV_VMATH_INLINE V logsumexp_value(V m, V shift, V sum) {
  return select<V>(vmath::abs(m) < splat<V>(infinity<V>()), shift + vmath::log(sum), m);
}

// ---- forward: a tile of P pixels x OCV vectors of output channels -------------------------------

template <typename Op, typename V, int P, int OCV, Reduce R>
FASTCONV_VMATH_INLINE void channel_pass(const ChannelTileArgs& a, const V* p, V (&acc)[P][OCV],
                                        const float* shift) {
  constexpr int L = lanes<V>();
  constexpr int OCB = OCV * L;
#pragma GCC unroll 32
  for (int i = 0; i < P; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < OCV; ++v) acc[i][v] = R == Reduce::logsumexp && shift ? splat<V>(0) : reduce_identity<R, V>();
  [[maybe_unused]] V m[P][OCV];
  if constexpr (R == Reduce::logsumexp) {
    if (shift)
      for (int i = 0; i < P; ++i)
        for (int v = 0; v < OCV; ++v) m[i][v] = load<V>(shift + i * OCB + v * L);
  }
  const float* __restrict weights = a.weights;
  for (std::int64_t c = 0; c < a.channels; ++c) {
    const float* __restrict channel = a.window + c * a.window_channel_stride;
    for (std::int64_t t = 0; t < a.taps; ++t) {
      const float* __restrict x = channel + a.tap_offsets[t];
      V w[OCV];
#pragma GCC unroll 8
      for (int v = 0; v < OCV; ++v) w[v] = load<V>(weights + v * L);
#pragma GCC unroll 32
      for (int i = 0; i < P; ++i) {
        const V input = splat<V>(x[i]);
#pragma GCC unroll 8
        for (int v = 0; v < OCV; ++v) {
          const V z = Op::combine(input, w[v], p);
          if constexpr (R == Reduce::logsumexp) {
            if (shift) {
              acc[i][v] += vmath::exp_nonpositive(z - m[i][v]);  // (z <= m when m is finite)
            } else {
              acc[i][v] = reduce_step<Reduce::max, V>(acc[i][v], z);
            }
          } else {
            acc[i][v] = reduce_step<R, V>(acc[i][v], z);
          }
        }
      }
      weights += OCB;
    }
  }
}

template <typename Op, typename V, int P, int OCV>
void channel_tile(const ChannelTileArgs& a) {
  constexpr int L = lanes<V>();
  constexpr int OCB = OCV * L;
  const Params<Op, V> params(a.params);
  V acc[P][OCV];
  if constexpr (Op::reduce == Reduce::logsumexp) {
    // Pass 1: the max (in the tile), pass 2: sum of exp(z - max) with a finite shift.
    channel_pass<Op, V, P, OCV, Reduce::logsumexp>(a, params.get(), acc, nullptr);
    V max[P][OCV];
    for (int i = 0; i < P; ++i)
      for (int v = 0; v < OCV; ++v) {
        max[i][v] = acc[i][v];
        store<V>(a.tile + i * OCB + v * L, finite_or_zero(acc[i][v]));
      }
    channel_pass<Op, V, P, OCV, Reduce::logsumexp>(a, params.get(), acc, a.tile);
    for (int i = 0; i < P; ++i)
      for (int v = 0; v < OCV; ++v) {
        const V shift = load<V>(a.tile + i * OCB + v * L);
        store<V>(a.tile + i * OCB + v * L, logsumexp_value(max[i][v], shift, acc[i][v]));
      }
  } else {
    channel_pass<Op, V, P, OCV, Op::reduce>(a, params.get(), acc, nullptr);
    for (int i = 0; i < P; ++i)
      for (int v = 0; v < OCV; ++v) store<V>(a.tile + i * OCB + v * L, acc[i][v]);
  }
}

template <typename Op, typename V, int OCV, int PMAX>
struct ChannelTiles {
  static constexpr auto table = []<int... I>(std::integer_sequence<int, I...>) {
    return std::array<ChannelTileFn, PMAX>{&channel_tile<Op, V, I + 1, OCV>...};
  }(std::make_integer_sequence<int, PMAX>{});
};

// ---- pixel lanes over an unfolded chunk ---------------------------------------------------------
// Columns are processed in whole vectors: the caller gives cols, out, g and y a row stride of at
// least round_up(pixels, lanes) readable (and, for outputs, writable) floats.

// Register blocks of F filters x VV pixel vectors, fixed at compile time so the accumulators
// stay in registers: the widest block where the register file allows (16 accumulators with 32
// vector registers, 8 with 16), then blocks of one filter and one vector for the remainders.
template <typename V>
constexpr int cols_vectors() {
  return lanes<V>() >= 16 ? 4 : 2;
}
constexpr int kColsFilters = 4;

// One block: acc[f][v] = REDUCE over r of combine(cols[r][q + v L], w[k0 + f][r]); with
// `shift`, acc = sum of exp(z - shift) instead (logsumexp's second pass).
template <typename Op, typename V, Reduce R, int F, int VV>
FASTCONV_VMATH_INLINE void cols_block(const ColsArgs& a, const V* p, std::int64_t k0, std::int64_t q,
                                      V (&acc)[F][VV], const V (*shift)[VV]) {
  constexpr int L = lanes<V>();
  for (int f = 0; f < F; ++f)
    for (int v = 0; v < VV; ++v) acc[f][v] = shift ? splat<V>(0) : reduce_identity<R, V>();
  const float* __restrict weights = a.weights + k0 * a.weights_stride;
  const float* __restrict cols = a.cols + q;
  for (std::int64_t r = 0; r < a.rows; ++r) {
    V x[VV];
    const std::int64_t row = a.row_offsets ? a.row_offsets[r] : r * a.cols_stride;
    for (int v = 0; v < VV; ++v) x[v] = load<V>(cols + row + v * L);
    for (int f = 0; f < F; ++f) {
      const V w = splat<V>(weights[f * a.weights_stride + r]);
      for (int v = 0; v < VV; ++v) {
        const V z = Op::combine(x[v], w, p);
        if constexpr (R == Reduce::logsumexp) {
          acc[f][v] = shift ? acc[f][v] + vmath::exp_nonpositive(z - shift[f][v])
                            : reduce_step<Reduce::max, V>(acc[f][v], z);
        } else {
          acc[f][v] = reduce_step<R, V>(acc[f][v], z);
        }
      }
    }
  }
}

template <typename Op, typename V, int F, int VV>
FASTCONV_VMATH_INLINE void cols_reduce_block(const ColsArgs& a, const V* p, std::int64_t k0, std::int64_t q) {
  constexpr int L = lanes<V>();
  V acc[F][VV];
  cols_block<Op, V, Op::reduce, F, VV>(a, p, k0, q, acc, nullptr);
  if constexpr (Op::reduce == Reduce::logsumexp) {
    V shift[F][VV], max[F][VV];
    for (int f = 0; f < F; ++f)
      for (int v = 0; v < VV; ++v) max[f][v] = acc[f][v], shift[f][v] = finite_or_zero(acc[f][v]);
    cols_block<Op, V, Op::reduce, F, VV>(a, p, k0, q, acc, shift);
    for (int f = 0; f < F; ++f)
      for (int v = 0; v < VV; ++v) acc[f][v] = logsumexp_value(max[f][v], shift[f][v], acc[f][v]);
  }
  for (int f = 0; f < F; ++f)
    for (int v = 0; v < VV; ++v) store<V>(a.out + (k0 + f) * a.out_stride + q + v * L, acc[f][v]);
}

template <typename Op, typename V>
void cols_reduce(const ColsArgs& a) {
  constexpr int L = lanes<V>(), VV = cols_vectors<V>();
  const Params<Op, V> params(a.params);
  const std::int64_t full_filters = a.filters / kColsFilters * kColsFilters;
  const std::int64_t vectors = (a.pixels + L - 1) / L, full_vectors = vectors / VV * VV;
  for (std::int64_t k0 = 0; k0 < a.filters; k0 += k0 < full_filters ? kColsFilters : 1) {
    const bool block = k0 < full_filters;
    for (std::int64_t v = 0; v < vectors; v += v < full_vectors ? VV : 1) {
      const bool wide = v < full_vectors;
      if (block && wide) cols_reduce_block<Op, V, kColsFilters, VV>(a, params.get(), k0, v * L);
      else if (block) cols_reduce_block<Op, V, kColsFilters, 1>(a, params.get(), k0, v * L);
      else if (wide) cols_reduce_block<Op, V, 1, VV>(a, params.get(), k0, v * L);
      else cols_reduce_block<Op, V, 1, 1>(a, params.get(), k0, v * L);
    }
  }
}

// max / min: the first r with the extreme value (a NaN value is the extreme).
template <typename Op, typename V>
void cols_argext(const ColsArgs& a) {
  constexpr int L = lanes<V>();
  using M = mask_t<V>;
  const Params<Op, V> params(a.params);
  for (std::int64_t k = 0; k < a.filters; ++k) {
    for (std::int64_t q = 0; q < a.pixels; q += L) {
      V best = splat<V>(0);
      M index = M{} - 1;
      for (std::int64_t r = 0; r < a.rows; ++r) {
        const V z = Op::combine(load<V>(a.cols + r * a.cols_stride + q), splat<V>(a.weights[k * a.weights_stride + r]),
                                params.get());
        const M extreme = Op::reduce == Reduce::max ? M(z > best) : M(z < best);
        const M better = r == 0 ? (M{} - 1) : (extreme | ((z != z) & (best == best)));
        best = select<V>(better, z, best);
        index = better ? (M{} + vmath::bits_t<element_t<V>>(r)) : index;
      }
      std::memcpy(a.index + k * a.out_stride + q, &index, sizeof(M));
    }
  }
}

// dcols[r][q] = sum over k of g[k][q] s combine_dx(x[r][q], w[k][r]).
template <typename Op, typename V>
void cols_backward_data(const ColsArgs& a) {
  if constexpr (HasCombineDx<Op, V>) {
    constexpr int L = lanes<V>();
    constexpr int kRows = 4;
    const Params<Op, V> params(a.params);
    for (std::int64_t r0 = 0; r0 < a.rows; r0 += kRows) {
      const int rows = int(std::min<std::int64_t>(kRows, a.rows - r0));
      for (std::int64_t q = 0; q < a.pixels; q += L) {
        V x[kRows], acc[kRows];
        for (int i = 0; i < rows; ++i) {
          x[i] = load<V>(a.cols + (r0 + i) * a.cols_stride + q);
          acc[i] = splat<V>(0);
        }
        for (std::int64_t k = 0; k < a.filters; ++k) {
          const V g = load<V>(a.g + k * a.g_stride + q);
          V y{};
          if constexpr (Op::reduce == Reduce::logsumexp) y = load<V>(a.y + k * a.g_stride + q);
          for (int i = 0; i < rows; ++i) {
            const V w = splat<V>(a.weights[k * a.weights_stride + r0 + i]);
            if constexpr (Op::reduce == Reduce::logsumexp) {
              // A term of weight 0 adds nothing (not 0 * Inf).
              const V s = vmath::exp(Op::combine(x[i], w, params.get()) - y);
              acc[i] += select<V>(s != splat<V>(0), g * s * Op::combine_dx(x[i], w, params.get()), splat<V>(0));
            } else {
              acc[i] += g * Op::combine_dx(x[i], w, params.get());
            }
          }
        }
        for (int i = 0; i < rows; ++i) store<V>(a.dcols + (r0 + i) * a.cols_stride + q, acc[i]);
      }
    }
  }
}

// dweights[k][r] += sum over q < pixels of g[k][q] s combine_dw(x[r][q], w[k][r]). Lanes past
// `pixels` are masked out (g there may be anything).
template <typename Op, typename V>
void cols_backward_weights(const ColsArgs& a) {
  if constexpr (HasCombineDw<Op, V>) {
    constexpr int L = lanes<V>();
    constexpr int kFilters = 2, kRows = 2;
    const Params<Op, V> params(a.params);
    V lane_index;
    for (int i = 0; i < L; ++i) lane_index[i] = element_t<V>(i);
    for (std::int64_t k0 = 0; k0 < a.filters; k0 += kFilters) {
      const int filters = int(std::min<std::int64_t>(kFilters, a.filters - k0));
      for (std::int64_t r0 = 0; r0 < a.rows; r0 += kRows) {
        const int rows = int(std::min<std::int64_t>(kRows, a.rows - r0));
        V acc[kFilters][kRows], w[kFilters][kRows];
        for (int f = 0; f < filters; ++f)
          for (int i = 0; i < rows; ++i) {
            acc[f][i] = splat<V>(0);
            w[f][i] = splat<V>(a.weights[(k0 + f) * a.weights_stride + r0 + i]);
          }
        for (std::int64_t q = 0; q < a.pixels; q += L) {
          const auto inside = lane_index < splat<V>(element_t<V>(a.pixels - q));
          V x[kRows];
          for (int i = 0; i < rows; ++i) x[i] = load<V>(a.cols + (r0 + i) * a.cols_stride + q);
          for (int f = 0; f < filters; ++f) {
            const V g = load<V>(a.g + (k0 + f) * a.g_stride + q);
            V y{};
            if constexpr (Op::reduce == Reduce::logsumexp) y = load<V>(a.y + (k0 + f) * a.g_stride + q);
            for (int i = 0; i < rows; ++i) {
              if constexpr (Op::reduce == Reduce::logsumexp) {
                // A term of weight 0 (or a lane past the chunk) adds nothing (not 0 * Inf).
                const V s = vmath::exp(Op::combine(x[i], w[f][i], params.get()) - y);
                acc[f][i] += select<V>(inside & (s != splat<V>(0)), g * s * Op::combine_dw(x[i], w[f][i], params.get()),
                                       splat<V>(0));
              } else {
                acc[f][i] += select<V>(inside, g * Op::combine_dw(x[i], w[f][i], params.get()), splat<V>(0));
              }
            }
          }
        }
        for (int f = 0; f < filters; ++f)
          for (int i = 0; i < rows; ++i) {
            float sum = 0.0f;
            for (int l = 0; l < L; ++l) sum += acc[f][i][l];
            a.dweights[(k0 + f) * a.weights_stride + r0 + i] += sum;
          }
      }
    }
  }
}

// Epilogue blocks: whole vectors, then the remainder through a zero-padded vector.
template <typename V, typename F>
FASTCONV_VMATH_INLINE void epilogue_block(float* values, const float* bias, std::int64_t count, F&& f) {
  constexpr int L = lanes<V>();
  std::int64_t i = 0;
  for (; i + L <= count; i += L) store<V>(values + i, f(load<V>(values + i), load<V>(bias + i)));
  if (i < count) {
    float y[L] = {}, b[L] = {};
    std::memcpy(y, values + i, std::size_t(count - i) * sizeof(float));
    std::memcpy(b, bias + i, std::size_t(count - i) * sizeof(float));
    store<V>(y, f(load<V>(y), load<V>(b)));
    std::memcpy(values + i, y, std::size_t(count - i) * sizeof(float));
  }
}

template <typename Op, typename V>
void op_epilogue(float* values, const float* bias, std::int64_t count, const float* params) {
  if constexpr (HasEpilogue<Op, V>) {
    const Params<Op, V> p(params);
    epilogue_block<V>(values, bias, count, [&](V y, V b) { return Op::epilogue(y, b, p.get()); });
  }
}
template <typename Op, typename V>
void op_epilogue_dy(float* values, const float* bias, std::int64_t count, const float* params) {
  if constexpr (HasEpilogueDy<Op, V>) {
    const Params<Op, V> p(params);
    epilogue_block<V>(values, bias, count, [&](V y, V b) { return Op::epilogue_dy(y, b, p.get()); });
  }
}
template <typename Op, typename V>
void op_epilogue_db(float* values, const float* bias, std::int64_t count, const float* params) {
  if constexpr (HasEpilogueDb<Op, V>) {
    const Params<Op, V> p(params);
    epilogue_block<V>(values, bias, count, [&](V y, V b) { return Op::epilogue_db(y, b, p.get()); });
  }
}

// The kernels of one ISA for an operation: channel tiles of OCV vectors for P <= PMAX, and of
// one vector for P <= PMAX1, both capped by the op's max_tile_pixels.
template <typename Op, typename V, int ISA, int OCV, int PMAX, int PMAX1>
constexpr OpIsaKernels isa_kernels() {
  constexpr int P0 = std::min(PMAX, max_tile_pixels<Op>()), P1 = std::min(PMAX1, max_tile_pixels<Op>());
  OpIsaKernels k;
  k.isa = ISA;
  k.lanes = lanes<V>();
  k.channel_tiles[0] = {OCV, P0, ChannelTiles<Op, V, OCV, P0>::table.data()};
  k.channel_tiles[1] = {1, P1, ChannelTiles<Op, V, 1, P1>::table.data()};
  k.cols_reduce = &cols_reduce<Op, V>;
  if constexpr (Op::reduce == Reduce::max || Op::reduce == Reduce::min) k.cols_argext = &cols_argext<Op, V>;
  if constexpr (HasCombineDx<Op, V> && HasCombineDw<Op, V>) {
    k.cols_backward_data = &cols_backward_data<Op, V>;
    k.cols_backward_weights = &cols_backward_weights<Op, V>;
  }
  if constexpr (HasEpilogue<Op, V>) k.epilogue = &op_epilogue<Op, V>;
  if constexpr (HasEpilogueDy<Op, V>) k.epilogue_dy = &op_epilogue_dy<Op, V>;
  if constexpr (HasEpilogueDb<Op, V>) k.epilogue_db = &op_epilogue_db<Op, V>;
  return k;
}

// Scalar (double) forms.
template <typename Op>
double scalar_combine(double x, double w, const double* p) { return Op::combine(x, w, p); }
template <typename Op>
double scalar_combine_dx(double x, double w, const double* p) { return Op::combine_dx(x, w, p); }
template <typename Op>
double scalar_combine_dw(double x, double w, const double* p) { return Op::combine_dw(x, w, p); }
template <typename Op>
double scalar_epilogue(double y, double b, const double* p) { return Op::epilogue(y, b, p); }
template <typename Op>
double scalar_epilogue_dy(double y, double b, const double* p) { return Op::epilogue_dy(y, b, p); }
template <typename Op>
double scalar_epilogue_db(double y, double b, const double* p) { return Op::epilogue_db(y, b, p); }

template <typename Op>
OpTable op_table(const OpIsaKernels* portable, const OpIsaKernels* avx2, const OpIsaKernels* avx512) {
  OpTable t;
  t.name = Op::name;
  t.reduce = Op::reduce;
  t.param_count = param_count<Op>();
  t.combine = &scalar_combine<Op>;
  constexpr bool derivatives = HasCombineDx<Op, double> && HasCombineDw<Op, double>;
  if constexpr (derivatives) {
    t.combine_dx = &scalar_combine_dx<Op>;
    t.combine_dw = &scalar_combine_dw<Op>;
  }
  if constexpr (HasEpilogue<Op, double>) {
    t.has_epilogue = true;
    t.epilogue = &scalar_epilogue<Op>;
    if constexpr (HasEpilogueDy<Op, double>) t.epilogue_dy = &scalar_epilogue_dy<Op>;
    if constexpr (HasEpilogueDb<Op, double>) t.epilogue_db = &scalar_epilogue_db<Op>;
  }
  t.has_derivatives = derivatives && (!t.has_epilogue || (t.epilogue_dy != nullptr && t.epilogue_db != nullptr));
  t.isas[0] = portable;
  t.isas[1] = avx2;
  t.isas[2] = avx512;
  return t;
}

}  // namespace kernels
}  // namespace fastconv::custom
