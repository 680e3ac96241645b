// few_channels_microkernel.hpp — the few-channels kernel template (contract in
// few_channels_kernel.hpp). Include only from a per-ISA translation unit, after that ISA's
// simd_<isa>.hpp: the masked row-end loads and stores use the ISA's intrinsics.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/epilogue.hpp"
#include "kernels/few_channels/few_channels_kernel.hpp"
#include "simd/simd_partial.hpp"
#include "simd/simd_traits.hpp"

namespace fastconv::detail {

// Stores a whole vector to p, non-temporally when `stream` (p then vector-aligned).
template <Isa isa>
inline void fewch_store(float* p, typename SimdTraits<isa, float>::vec value, bool stream) {
  if (stream) {
#if defined(__AVX512F__)
    if constexpr (isa == Isa::avx512) return _mm512_stream_ps(p, __m512(value));
#endif
#if defined(__AVX__)
    if constexpr (isa == Isa::avx2) return _mm256_stream_ps(p, __m256(value));
#endif
#if defined(__SSE__)
    if constexpr (isa == Isa::scalar) return _mm_stream_ps(p, __m128(value));
#endif
  }
  std::memcpy(p, &value, sizeof(value));
}

// A finished tile's vectors on their way out with non-temporal stores, one per kernel tap of the
// next tile: the stores leave at the rate the memory takes them while the next tile computes,
// rather than in a burst of KB x NV stores at each tile's end (seed_1024_p1, whose 64 MiB
// output is written at the store bandwidth: 5-19% faster at 1 thread, 8-15% at 2).
template <Isa isa, int KB, int MaxNV>
struct FewchStorePipe {
  using vec = typename SimdTraits<isa, float>::vec;
  static constexpr int kLanes = SimdTraits<isa, float>::lanes;
  vec values[KB * MaxNV];            // [channel][vector] of a tile of `layout` vectors
  std::int64_t offsets[KB * MaxNV];  // of values[i] from dst
  std::int64_t channel_stride;
  float* dst = nullptr;              // the tile's first pixel of its first channel
  int next = 0, count = 0;           // values stored so far / held
  int layout = 0;                    // vectors per channel that `offsets` is laid out for

  explicit FewchStorePipe(std::int64_t stride) : channel_stride(stride) {}
  // Prepares offsets for tiles of nv vectors per channel.
  void lay_out(int nv) {
    if (nv == layout) return;
    for (int b = 0; b < KB; ++b)
      for (int v = 0; v < nv; ++v) offsets[b * nv + v] = b * channel_stride + v * kLanes;
    layout = nv;
  }
  [[gnu::always_inline]] inline void store_one() {
    if (next >= count) return;
    fewch_store<isa>(dst + offsets[next], values[next], true);
    ++next;
  }
  void flush() {
    while (next < count) store_one();
  }
};

// One register tile: KB channels x NV vectors from output pixel `first`; when kMaskedLast, the
// last vector holds only `last_lanes` pixels. `stream`: store whole vectors non-temporally.
// kEdges: load each tap with the mask of its valid pixels (tile.valid).
// With a `pipe` (streaming without accumulation, whole vectors), the tile streams out the
// pipe's previous tile during its taps, then leaves its own results in the pipe (a tile with a
// masked last vector stores them itself).
// Always inlined into the row loop (measured ~10% faster than a call per tile: the row's
// pointers and epilogue flags stay in registers).
template <Isa isa, int KB, int NV, bool kMaskedLast, bool kEdges, typename Combine, int PipeNV = NV>
[[gnu::always_inline]] inline void fewch_tile(const FewChannelsTile<float>& tile, const EpilogueParams<float>& epilogue,
                       std::int64_t first, int last_lanes, bool stream,
                       FewchStorePipe<isa, KB, PipeNV>* pipe = nullptr) {
  using Simd = SimdTraits<isa, float>;
  using vec = typename Simd::vec;
  constexpr int kLanes = Simd::lanes;
  auto load = [&](const float* p, int v) {
    if (kMaskedLast && v == NV - 1) return SimdPartial<isa>::template load<vec>(p, last_lanes);
    vec value;
    std::memcpy(&value, p, sizeof(vec));
    return value;
  };

  // The accumulators start at the bias (one add fewer per output vector than adding it last).
  vec acc[KB][NV];
#pragma GCC unroll 16
  for (int b = 0; b < KB; ++b) {
    const vec bias = epilogue.bias ? Simd::broadcast(epilogue.bias[b]) : vec{};
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[b][v] = bias;
  }

  const float* const* taps = tile.taps;
  const float* w = tile.weights;
  const std::int64_t tap_count = tile.tap_count;
  // The pipe's position in registers during the taps (its fields would be reloaded after every
  // store, which may alias them).
  int piped_next = pipe != nullptr ? pipe->next : 0;
  const int piped_count = pipe != nullptr ? pipe->count : 0;
  float* const piped_dst = pipe != nullptr ? pipe->dst : nullptr;
  // (Without tile.valid every pixel is valid: row-end tiles always take the kEdges path.)
  const bool tap_edges = kEdges && tile.valid != nullptr;
  for (std::int64_t t = 0; t < tap_count; ++t, w += KB) {
    vec input[NV];
    const std::int64_t lo = tap_edges ? tile.valid[2 * t] - first : 0;
    const std::int64_t hi = tap_edges ? tile.valid[2 * t + 1] - first : std::int64_t(NV) * kLanes;
    if (kEdges && (lo > 0 || hi < (NV - 1) * kLanes + last_lanes)) {
      // Pointer arithmetic in integers: the tap may point before its row.
      const auto src = reinterpret_cast<std::uintptr_t>(taps[t]) + std::uintptr_t(first) * sizeof(float);
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v)
        input[v] = SimdPartial<isa>::template load_range<vec>(
            reinterpret_cast<const float*>(src + std::uintptr_t(v * kLanes) * sizeof(float)),
            int(std::clamp<std::int64_t>(lo - v * kLanes, 0, kLanes)), int(std::clamp<std::int64_t>(hi - v * kLanes, 0, kLanes)));
    } else {
      const float* src = taps[t] + first;
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) input[v] = load(src + v * kLanes, v);
    }
#pragma GCC unroll 16
    for (int b = 0; b < KB; ++b) {
      const vec weight = Simd::broadcast(w[b]);
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[b][v] = Combine::apply(acc[b][v], input[v], weight);
    }
    if (piped_next < piped_count) {
      fewch_store<isa>(piped_dst + pipe->offsets[piped_next], pipe->values[piped_next], true);
      ++piped_next;
    }
  }
  if (pipe != nullptr) pipe->next = piped_next;

  // Local copies: the stores below may alias anything reached through a reference, which would
  // reload these fields before every store.
  const EpilogueParams<float> ep = epilogue;
  const bool plain = !ep.accumulate && ep.activation == Activation::none;
  float* const dst = tile.dst + first;
  const std::int64_t channel_stride = tile.dst_channel_stride;
  const int channels = tile.channels;
  if (pipe != nullptr) pipe->flush();  // (a tile of fewer taps than vectors)
  if (pipe != nullptr && !kMaskedLast) {
    static_assert(NV <= PipeNV);
    pipe->lay_out(NV);
#pragma GCC unroll 16
    for (int b = 0; b < KB; ++b)
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) pipe->values[b * NV + v] = plain ? acc[b][v] : apply_activation(acc[b][v], ep);
    pipe->dst = dst;
    pipe->next = 0;
    pipe->count = channels * NV;
    return;
  }
#pragma GCC unroll 16
  for (int b = 0; b < KB; ++b) {
    if (b >= channels) break;
    float* out = dst + b * channel_stride;
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      vec value = acc[b][v];
      if (!plain) {
        if (ep.accumulate) value += load(out + v * kLanes, v);
        value = apply_activation(value, ep);
      }
      if (kMaskedLast && v == NV - 1) {
        SimdPartial<isa>::store(out + v * kLanes, value, last_lanes);
      } else {
        fewch_store<isa>(out + v * kLanes, value, stream);
      }
    }
  }
}

// One channel block's row: its whole tiles, then the row end. Results left in the pipe (if any)
// are the caller's to flush.
template <Isa isa, int KB, int kWidth, typename Combine>
[[gnu::always_inline]] inline void fewch_block_row(const FewChannelsTile<float>& tile, const EpilogueParams<float>& epilogue,
                                                   bool stream, FewchStorePipe<isa, KB, kWidth / SimdTraits<isa, float>::lanes>* piped) {
  constexpr int kLanes = SimdTraits<isa, float>::lanes;
  constexpr int kVectors = kWidth / kLanes;
  // Whole tiles: unmasked inside [valid_begin, valid_end), with edge masks outside it.
  const bool edges = tile.valid != nullptr;
  auto inside = [&](std::int64_t first, std::int64_t width) {
    return !edges || (first >= tile.valid_begin && first + width <= tile.valid_end);
  };
  std::int64_t first = 0;
  for (; first + kWidth <= tile.count; first += kWidth) {
    if (inside(first, kWidth)) {
      fewch_tile<isa, KB, kVectors, false, false, Combine>(tile, epilogue, first, kLanes, stream, piped);
    } else {
      fewch_tile<isa, KB, kVectors, false, true, Combine>(tile, epilogue, first, kLanes, stream, piped);
    }
  }
  const std::int64_t rest = tile.count - first;
  if (rest <= 0) return;
  // The row end: a tile of ceil(rest / lanes) vectors, the last one masked unless whole (whole
  // vectors need no mask, and their stores may stream). The pipe's last tile drains during it.
  const int vectors = int((rest + kLanes - 1) / kLanes);
  const int last_lanes = int(rest - std::int64_t(vectors - 1) * kLanes);
  auto row_end = [&]<int V, bool kMasked>() {
    // One instantiation per size (the masks' cost is negligible on one tile per row).
    fewch_tile<isa, KB, V, kMasked, true, Combine, kVectors>(tile, epilogue, first, last_lanes, stream, piped);
  };
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((vectors == I + 1 ? (last_lanes == kLanes ? row_end.template operator()<I + 1, false>()
                                               : row_end.template operator()<I + 1, true>())
                       : void()),
     ...);
  }(std::make_integer_sequence<int, kVectors>{});
}

template <Isa isa, int KB, int kWidth, typename Combine = MultiplyAdd>
void few_channels_kernel(const FewChannelsTile<float>& tile, const EpilogueParams<float>& epilogue) {
  constexpr int kLanes = SimdTraits<isa, float>::lanes;
  static_assert(kWidth % kLanes == 0, "the tile width must be a whole number of vectors");
  constexpr int kVectors = kWidth / kLanes;
  // Streaming needs every whole-vector store aligned: dst and the channel stride (tiles start at
  // multiples of kWidth, whole vectors).
  const bool stream = tile.stream_dst && !epilogue.accumulate &&
                      reinterpret_cast<std::uintptr_t>(tile.dst) % (kLanes * sizeof(float)) == 0 &&
                      (tile.channels == 1 || tile.dst_channel_stride % kLanes == 0);
  // One pipe across the channel blocks: a block's last tile streams out during the next block's
  // first tile instead of in a burst at the block's end.
  FewchStorePipe<isa, KB, kVectors> pipe(tile.dst_channel_stride);
  FewchStorePipe<isa, KB, kVectors>* const piped = stream ? &pipe : nullptr;
  FewChannelsTile<float> block = tile;
  EpilogueParams<float> block_epilogue = epilogue;
  for (int b0 = 0; b0 < tile.channels; b0 += KB) {
    block.weights = tile.weights + std::int64_t(b0 / KB) * tile.tap_count * KB;
    block.dst = tile.dst + b0 * tile.dst_channel_stride;
    block.channels = std::min(KB, tile.channels - b0);
    block_epilogue.bias = epilogue.bias != nullptr ? epilogue.bias + b0 : nullptr;
    fewch_block_row<isa, KB, kWidth, Combine>(block, block_epilogue, stream, piped);
  }
  if (piped != nullptr) pipe.flush();
}

}  // namespace fastconv::detail

// Defines the named entry point of one list entry, for the ISA's own translation unit.
#define FASTCONV_DEFINE_FEW_CHANNELS_KERNEL(isa, kb, width)                                  \
  void f32_fewch_##kb##x##width##__##isa(const FewChannelsTile<float>& tile,                 \
                                         const EpilogueParams<float>& epilogue) {            \
    few_channels_kernel<Isa::isa, kb, width>(tile, epilogue);                                \
  }
