// implicit_gemm_engine.cpp — see implicit_gemm_engine.hpp; the decisions (kernel, tiles, window
// layout, channel chunks, workspace) are in implicit_gemm_setup.hpp, the window copy in
// implicit_gemm_window.hpp, the weight packing in implicit_gemm_weights.hpp.
//
// Threading: one parallel region per run, at most one thread per workspace slot (the run's
// thread budget). Work items are pixel tiles, ordered (group, n, od, oh, tile); each thread takes an
// even contiguous range of them with every output-channel block, or, when that balances worse
// (few pixels, e.g. 7x7 layers, or weights costly to pack) or equally with few tiles per thread,
// every item with an even range of output-channel blocks. Per thread, for each block of up to
// tiles_per_block items of one group (growing from one row at the share's start, so that the
// first window copy, which nothing prefetched, is short) and each input-channel chunk (chunks
// outermost when the share's output fits in cache, so each chunk's weights are packed once;
// blocks outermost otherwise; with team packing and many tiles, the items run instead as parts
// handed out dynamically, see run_forward):
//   copy the block's window for the chunk (the ISA's fill_rows)
//   for each pack of output-channel blocks: (re)pack its weights if needed, then
//     for each output-channel block, each tile: microkernel (accumulate after chunk 0).
#include "engines/implicit_gemm/implicit_gemm_engine.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/parallel.hpp"
#include "core/profile.hpp"
#include "engines/implicit_gemm/implicit_gemm_setup.hpp"
#include "engines/implicit_gemm/implicit_gemm_weights.hpp"
#include "engines/implicit_gemm/implicit_gemm_window.hpp"
#include "engines/inner_op_kernels.hpp"

namespace fastconv::detail {
namespace {

// Weights packed once per plan: [group][oc block][channel][tap][OCB].
struct IgemmPackedWeights final : PackedWeights {
  std::int64_t ocb = 0;
  std::vector<float> data;
};

struct Item {
  std::int64_t n, od, oh, tile;
};

Item decode_item(const ConvGeometry& g, const IgemmSetup& s, std::int64_t index_in_group) {
  Item item;
  item.tile = index_in_group % s.tiles_per_row;
  std::int64_t row = index_in_group / s.tiles_per_row;
  item.oh = row % g.out[1];
  row /= g.out[1];
  item.od = row % g.out[0];
  item.n = row / g.out[0];
  return item;
}

// A thread's share: items [item_begin, item_end) x output-channel blocks [block_begin, block_end).
struct Share {
  std::int64_t item_begin, item_end, block_begin, block_end;
};

// Loop order with several channel chunks, for a share of `items` items x `blocks` output-channel
// blocks: chunks outermost (each chunk's weights packed once, the share's output re-read from
// cache per chunk) when that output fits kIgemmChunkOuterOutputBytes; blocks outermost (each
// block's output stays in cache across chunks) otherwise. FASTCONV_IGEMM_CHUNKS_OUTER overrides.
bool chunks_outermost(const IgemmSetup& s, std::int64_t items, std::int64_t blocks) {
  if (s.chunks_outer >= 0) return s.chunks_outer == 1;
  const double output_bytes = double(items) * double(s.tile_max) * double(blocks * s.ocb) * sizeof(float);
  return output_bytes <= double(kIgemmChunkOuterOutputBytes);
}

Share thread_share(std::int64_t items, std::int64_t blocks, bool split_blocks, int thread,
                   int threads) {
  auto part = [&](std::int64_t total) {
    const std::int64_t base = total / threads, extra = total % threads;
    const std::int64_t begin = thread * base + std::min<std::int64_t>(thread, extra);
    return std::pair{begin, begin + base + (thread < extra ? 1 : 0)};
  };
  if (split_blocks) {
    const auto [b0, b1] = part(blocks);
    return {0, items, b0, b1};
  }
  const auto [i0, i1] = part(items);
  return {i0, i1, 0, blocks};
}

// The items [begin, end) of one block (one plane of one group, see run_thread): its first and
// last item's row (within the group) and tile.
struct BlockRuns {
  std::int64_t group_first;  // first item of the group
  std::int64_t first_row;    // row index (within the group) of item `begin`
  std::int64_t first_tile;   // tile of item `begin`
  std::int64_t end_row, end_tile;  // row and tile of item end - 1
  std::int64_t row_of(std::int64_t item, const IgemmSetup& s) const { return (item - group_first) / s.tiles_per_row; }
};

// Packing shared by the team (see run_forward): every thread packs its part of each chunk's
// output-channel blocks into one buffer, then all threads read all of them.
struct TeamPacking {
  float* buffer = nullptr;  // null: each thread packs its own weights
  int thread = 0, team = 1;
  std::int64_t parts = 1;  // > 1: the items (one group's) run as this many parts handed out dynamically
  // Set: every packed block is checked, and a NaN or infinite weight reported here (a run whose
  // padding must not multiply such weights: backward_data's flipped forwards).
  std::atomic<bool>* nonfinite = nullptr;
};

// Whether `count` packed floats hold a NaN or an infinity (all exponent bits set).
bool any_nonfinite(const float* values, std::int64_t count) {
  std::uint32_t found = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, values + i, sizeof(bits));
    found |= std::uint32_t((bits & 0x7f800000u) == 0x7f800000u);
  }
  return found != 0;
}

// pack_block, plus the check TeamPacking::nonfinite asks for.
void pack_checked(const ConvGeometry& g, const IgemmSetup& s, const View5<float>& weight, std::int64_t group,
                  std::int64_t block, std::int64_t c0, std::int64_t count, float* out, const TeamPacking& team) {
  pack_block(g, s, weight, group, block, c0, count, out);
  if (team.nonfinite != nullptr && any_nonfinite(out, count * s.taps * s.ocb))
    team.nonfinite->store(true, std::memory_order_relaxed);
}

void team_barrier() {
#if defined(_OPENMP)
#pragma omp barrier
#endif
}

// An inner operation other than the convolution: its tile kernels, parameters and epilogue.
struct OpRun {
  const InnerOp* op = nullptr;
  const custom::OpIsaKernels* kernels = nullptr;
  const custom::ChannelTileFn* tiles = nullptr;  // the chosen family's, by P - 1
  const OpParams* params = nullptr;
  IgemmStoreFn store = nullptr;  // the matching kernel entry's tile store
};

// Stores an op's tile (P x OCB reduced values, modified in place) through the chunk merge and,
// after the last input-channel chunk, the epilogue (bias: the block's OCB-padded copy, or null).
void store_op_tile(const OpRun& r, float* tile, std::int64_t ocb, std::int64_t pixels, std::int64_t channels,
                   float* dst, std::int64_t pixel_stride, std::int64_t channel_stride, const float* bias,
                   bool first_chunk, bool last_chunk) {
  alignas(64) float scratch[custom::kMaxTilePixels];
  const ProfileScope scope(Phase::epilogue);
  const Reduce reduce = r.op->reduce();
  // Sum reductions with the bias epilogue (or relu after a single chunk) store as the
  // convolution's tiles do: the kernel entry's store, vectorised and transposing for NCHW.
  const EpilogueKind epilogue = r.op->epilogue_kind();
  if (reduce == Reduce::sum &&
      (epilogue == EpilogueKind::bias || (epilogue == EpilogueKind::relu && first_chunk && last_chunk))) {
    IgemmArgs args;
    args.dst = dst;
    args.dst_pixel_stride = pixel_stride;
    args.dst_channel_stride = channel_stride;
    args.out_channels = channels;
    args.epilogue.bias = first_chunk ? bias : nullptr;
    args.epilogue.accumulate = !first_chunk;
    args.epilogue.activation = epilogue == EpilogueKind::relu ? Activation::relu : Activation::none;
    r.store(tile, int(pixels), args);
    return;
  }
  if (pixel_stride == 1 && pixels > 1) {  // NCHW: a channel's pixels are consecutive in dst
    alignas(64) float column[custom::kMaxTilePixels];
    for (std::int64_t j = 0; j < channels; ++j) {
      float* out = dst + j * channel_stride;
      for (std::int64_t p = 0; p < pixels; ++p) column[p] = tile[p * ocb + j];
      if (!first_chunk)
        for (std::int64_t p = 0; p < pixels; ++p) column[p] = merge_partials(reduce, out[p], column[p]);
      if (last_chunk) apply_epilogue(*r.op, *r.params, *r.kernels, column, pixels, bias ? bias[j] : 0.0f, scratch);
      for (std::int64_t p = 0; p < pixels; ++p) out[p] = column[p];
    }
    return;
  }
  for (std::int64_t p = 0; p < pixels; ++p) {  // channels-last and other strides: by pixel
    float* row = tile + p * ocb;
    float* out = dst + p * pixel_stride;
    if (!first_chunk)
      for (std::int64_t j = 0; j < channels; ++j) row[j] = merge_partials(reduce, out[j * channel_stride], row[j]);
    if (last_chunk) apply_epilogue(*r.op, *r.params, *r.kernels, row, channels, bias, scratch);
    for (std::int64_t j = 0; j < channels; ++j) out[j * channel_stride] = row[j];
  }
}

void run_thread(const ConvGeometry& g, const IgemmSetup& s, const ConvOperands<float>& x,
                const IgemmPackedWeights* packed, const std::int64_t* tap_offsets, const float* bias,
                std::byte* slot, const Share& share, const TeamPacking& team, const OpRun& op) {
  float* pack_buffer = team.buffer != nullptr ? team.buffer : reinterpret_cast<float*>(slot);
  float* windows = reinterpret_cast<float*>(slot + s.pack_bytes);
  std::int64_t packed_group = -1, packed_chunk = -1, packed_first_block = -1;
  NextChunkPrefetch prefetch;
  const auto& ds = x.dst.strides;
  const std::int64_t tpr = s.tiles_per_row;
  Share current = share;  // the items running now: the share, or with dynamic parts one part

  // The block starting at item `begin`: up to tiles_per_block items (fewer near the share's
  // start, below) of one (n, od) plane of one group; shorter than a row: inside one row; longer:
  // ending on a row boundary (setup's runs_per_block bound).
  auto block_end = [&](std::int64_t begin) {
    const std::int64_t group_first = begin / s.items_per_group * s.items_per_group;
    const std::int64_t plane_items = s.out_h * tpr;  // one (n, od) plane of the group
    const std::int64_t plane_end = group_first + ((begin - group_first) / plane_items + 1) * plane_items;
    // Blocks ramp up from the share's start: at most twice the tiles done so far plus one row's
    // (or one block's, if smaller). The first window copy, which nothing prefetched, is then
    // small, and each block computes long enough to prefetch the next, larger block's rows
    // (2 threads, interleaved A/B: 5-13% faster medians on the ResNet-50 3x3, downsample,
    // dilated and video layers; 1 thread unchanged within 1%).
    const std::int64_t ramp = 2 * (begin - current.item_begin) + std::min(tpr, s.tiles_per_block);
    std::int64_t end = std::min({current.item_end, plane_end, begin + std::min(s.tiles_per_block, ramp)});
    const std::int64_t row_end = group_first + ((begin - group_first) / tpr + 1) * tpr;
    if (s.tiles_per_block < tpr) {
      end = std::min(end, row_end);
    } else if (end > row_end) {
      const std::int64_t aligned = group_first + (end - group_first) / tpr * tpr;
      if (aligned > begin) end = aligned;
    }
    return end;
  };

  // The runs (output rows) of the block [begin, end).
  auto block_runs = [&](std::int64_t begin, std::int64_t end) {
    const std::int64_t group_first = begin / s.items_per_group * s.items_per_group;
    return BlockRuns{group_first, (begin - group_first) / tpr, (begin - group_first) % tpr,
                     (end - 1 - group_first) / tpr, (end - 1 - group_first) % tpr};
  };

  // What the block [begin, end) reads for `chunk`.
  auto block_source = [&](std::int64_t begin, std::int64_t end, std::int64_t chunk) {
    const BlockRuns runs = block_runs(begin, end);
    const std::int64_t group = begin / s.items_per_group;
    // Window columns start at the block's first column (0 when it spans several rows).
    const std::int64_t run_count = runs.end_row - runs.first_row + 1;
    const std::int64_t origin = run_count > 1 ? 0 : s.tile_begin(runs.first_tile);
    const std::int64_t last_column =
        run_count > 1 ? s.out_w : s.tile_begin(runs.end_tile) + s.tile_pixels(runs.end_tile);
    const Item row = decode_item(g, s, runs.first_row * tpr);
    const std::int64_t c0 = chunk * s.chunk_channels;
    return BlockSource{group, row.n, row.od, row.oh, run_count, origin, last_column - origin, c0,
                       std::min(s.chunk_channels, s.in_per_group - c0)};
  };
  NextWindowPrefetch window_prefetch;

  // One block, one input-channel chunk: copy the window (its rows were prefetched while the
  // previous block ran, `next` is prefetched during this one), then every output-channel block.
  auto run_block = [&](std::int64_t begin, std::int64_t end, std::int64_t chunk,
                       const BlockSource* next) {
    const BlockRuns runs = block_runs(begin, end);
    const std::int64_t group = begin / s.items_per_group, group_first = runs.group_first;
    const BlockSource source = block_source(begin, end, chunk);
    const std::int64_t c0 = source.c0, count = source.count, origin = source.column;
    {
      const ProfileScope scope(Phase::transforms);
      fill_block(g, s, x.src, source, windows, op.op ? float(op.op->pad_value()) : 0.0f);
    }
    const std::int64_t calls = (end - begin) * (current.block_end - current.block_begin);
    if (next != nullptr) window_prefetch.start(g, s, x.src, *next, calls);
    else window_prefetch.stop();
    for (std::int64_t first_block = current.block_begin; first_block < current.block_end;
         first_block += s.blocks_per_pack) {
      const std::int64_t last_block = std::min(current.block_end, first_block + s.blocks_per_pack);
      if (packed == nullptr &&
          (packed_group != group || packed_chunk != chunk || packed_first_block != first_block)) {
        const ProfileScope scope(Phase::packing);
        for (std::int64_t b = first_block; b < last_block; ++b)
          pack_checked(g, s, x.weight, group, b, c0, count, pack_buffer + (b - first_block) * count * s.taps * s.ocb,
                       team);
        packed_group = group;
        packed_chunk = chunk;
        packed_first_block = first_block;
        if (last_block == current.block_end && first_block == current.block_begin)
          prefetch.start(g, s, x.weight, group, first_block, last_block, c0 + s.chunk_channels,
                         (end - begin) * (last_block - first_block));
      }
      for (std::int64_t b = first_block; b < last_block; ++b) {
        const ProfileScope scope(Phase::microkernel);
        const float* weights =
            packed != nullptr
                ? packed->data.data() + ((group * s.oc_blocks + b) * s.in_per_group + c0) * s.taps * s.ocb
                : pack_buffer + (b - first_block) * count * s.taps * s.ocb;
        IgemmArgs args;
        args.window_channel_stride = s.window_channel_stride;
        args.tap_offsets = tap_offsets;
        args.taps = s.taps;
        args.channels = count;
        args.weights = weights;
        args.dst_pixel_stride = ds[4];
        args.dst_channel_stride = ds[1];
        args.out_channels = std::min(s.ocb, s.out_per_group - b * s.ocb);
        args.epilogue.bias = chunk == 0 && bias != nullptr ? bias + (group * s.oc_blocks + b) * s.ocb : nullptr;
        args.epilogue.accumulate = chunk > 0;
        const std::int64_t first_channel = group * s.out_per_group + b * s.ocb;
        custom::ChannelTileArgs tile_args;  // (an inner operation's)
        alignas(64) float tile[custom::kMaxTilePixels * 64];
        if (op.op) {
          tile_args.window_channel_stride = s.window_channel_stride;
          tile_args.tap_offsets = tap_offsets;
          tile_args.taps = s.taps;
          tile_args.channels = count;
          tile_args.weights = weights;
          tile_args.params = op.params->floats.data();
          tile_args.tile = tile;
        }
        for (std::int64_t i = begin; i < end; ++i) {
          const Item item = decode_item(g, s, i - group_first);
          const std::int64_t row = runs.row_of(i, s);
          const std::int64_t column = s.tile_begin(item.tile);
          args.window = windows + (row - runs.first_row) * s.run_row_step * s.row_len + column - origin;
          args.dst = x.dst.data + item.n * ds[0] + first_channel * ds[1] + item.od * ds[2] +
                     item.oh * ds[3] + column * ds[4];
          if (op.op) {
            const std::int64_t pixels = s.tile_pixels(item.tile);
            tile_args.window = args.window;
            op.tiles[pixels - 1](tile_args);
            store_op_tile(op, tile, s.ocb, pixels, args.out_channels, args.dst, ds[4], ds[1],
                          bias != nullptr ? bias + (group * s.oc_blocks + b) * s.ocb : nullptr, chunk == 0,
                          chunk + 1 == s.chunks);
          } else {
            s.kernel->get(int(s.tile_pixels(item.tile)))(args);
          }
          prefetch.step();
          window_prefetch.step();
        }
      }
    }
  };

  // Every block of the share for one chunk (chunks outermost), prefetching the next block's rows
  // (the first block's of the next chunk after the last block).
  auto run_chunk = [&](std::int64_t chunk) {
    for (std::int64_t begin = current.item_begin; begin < current.item_end;) {
      const std::int64_t end = block_end(begin);
      const bool last = end == current.item_end;
      const BlockSource next = last ? block_source(current.item_begin, block_end(current.item_begin), chunk + 1)
                                    : block_source(end, block_end(end), chunk);
      run_block(begin, end, chunk, last && chunk + 1 == s.chunks ? nullptr : &next);
      begin = end;
    }
  };

  // Team packing: chunks outermost; per chunk, pack this thread's part of the blocks, wait for
  // the others, run every block of the share, wait before the buffer is repacked.
  if (team.buffer != nullptr) {
    const Share part = thread_share(1, s.oc_blocks, true, team.thread, team.team);
    const std::int64_t share_calls = (current.item_end - current.item_begin) * s.oc_blocks;
    for (std::int64_t chunk = 0; chunk < s.chunks; ++chunk) {
      const std::int64_t c0 = chunk * s.chunk_channels, count = std::min(s.chunk_channels, s.in_per_group - c0);
      {
        const ProfileScope scope(Phase::packing);
        for (std::int64_t b = part.block_begin; b < part.block_end; ++b)
          pack_checked(g, s, x.weight, 0, b, c0, count, pack_buffer + b * count * s.taps * s.ocb, team);
      }
      prefetch.start(g, s, x.weight, 0, part.block_begin, part.block_end, c0 + s.chunk_channels, share_calls);
      packed_group = 0;
      packed_chunk = chunk;
      packed_first_block = 0;
      team_barrier();
      if (team.parts > 1) {
        // Dynamic parts: a thread the host slows down runs fewer of them. The loop's implicit
        // barrier keeps the buffer until every part is done.
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t p = 0; p < team.parts; ++p) {
          current = thread_share(s.items_per_group, s.oc_blocks, false, int(p), int(team.parts));
          run_chunk(chunk);
        }
      } else {
        run_chunk(chunk);
        if (chunk + 1 < s.chunks) team_barrier();
      }
    }
    return;
  }

  if (s.chunks > 1 &&
      chunks_outermost(s, current.item_end - current.item_begin, current.block_end - current.block_begin)) {
    for (std::int64_t chunk = 0; chunk < s.chunks; ++chunk) run_chunk(chunk);
  } else {
    for (std::int64_t begin = current.item_begin; begin < current.item_end;) {
      const std::int64_t end = block_end(begin);
      for (std::int64_t chunk = 0; chunk < s.chunks; ++chunk) {
        const bool last_chunk = chunk + 1 == s.chunks;
        if (last_chunk && end == current.item_end) {
          run_block(begin, end, chunk, nullptr);
        } else {
          const BlockSource next = last_chunk ? block_source(end, block_end(end), 0)
                                              : block_source(begin, end, chunk + 1);
          run_block(begin, end, chunk, &next);
        }
      }
      begin = end;
    }
  }
}

void run_forward(const ConvGeometry& g, const IgemmSetup& s, const ConvOperands<float>& x, void* workspace,
                 int thread_budget, const OpRun& op, std::atomic<bool>* nonfinite = nullptr) {
  if (g.batch == 0 || g.out_channels == 0 || g.out_pixels() == 0) return;
  const auto* packed = dynamic_cast<const IgemmPackedWeights*>(x.packed_weights);
  if (packed != nullptr && packed->ocb != s.ocb) packed = nullptr;

  // Shared part: tap offsets into a channel's window, bias padded to whole blocks.
  auto* bytes = static_cast<std::byte*>(workspace);
  auto* tap_offsets = reinterpret_cast<std::int64_t*>(bytes);
  const std::int64_t stride_w = g.stride[2];
  for (std::int64_t kd = 0, t = 0; kd < g.kernel[0]; ++kd)
    for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
      for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw, ++t) {
        const std::int64_t x_offset = kw * g.dilation[2];
        tap_offsets[t] = kd * s.kd_stride + kh * s.kh_row_step * s.row_len +
                         (x_offset % stride_w) * s.phase_len + x_offset / stride_w;
      }
  float* bias = nullptr;
  if (x.bias.data != nullptr) {
    bias = reinterpret_cast<float*>(bytes + s.bias_offset);
    for (std::int64_t group = 0; group < g.groups; ++group)
      for (std::int64_t j = 0; j < s.oc_blocks * s.ocb; ++j)
        bias[group * s.oc_blocks * s.ocb + j] =
            j < s.out_per_group ? x.bias[group * s.out_per_group + j] : 0.0f;
  }

  // Threads and how they split the work (see the file comment).
  const std::int64_t items = g.groups * s.items_per_group;
  const int threads = int(std::min<std::int64_t>(threads_for_work(g.multiply_adds(), thread_budget),
                                                 items * s.oc_blocks));
  bool split_blocks = false;
  if (threads > 1) {
    const double tile_work = double(s.tile_max * s.ocb * std::max<std::int64_t>(1, s.in_per_group * s.taps)) /
                             double(2 * s.kernel->lanes);
    const double pack_work = packed ? 0.0 : double(s.ocb * s.in_per_group * s.taps);
    const std::int64_t groups_each = std::max<std::int64_t>(1, (g.groups + threads - 1) / threads);
    // One group: the team shares the packing (team_packing below).
    const double pack_share = g.groups == 1 ? 1.0 / threads : 1.0;
    const double by_items = double((items + threads - 1) / threads) * double(s.oc_blocks) * tile_work +
                            double(groups_each * s.oc_blocks) * pack_work * pack_share;
    const std::int64_t blocks_each = (s.oc_blocks + threads - 1) / threads;
    const double by_blocks = double(items * blocks_each) * tile_work +
                             double(g.groups * blocks_each) * pack_work;
    // A tie (both split the tile work evenly, the usual case) goes to splitting the items, the
    // team sharing the packing, unless a thread gets fewer than kIgemmTeamMinItems tiles: then
    // the weights packed by the other threads are read too few times to amortise fetching them
    // from another core, and the team's barriers weigh more (2 threads, interleaved A/B: by
    // blocks res4_3x3 2.01x over 1 thread against 1.58x by items, res4_3x3_s2 1.93x / 1.56x,
    // res4_downsample 1.63x / 1.48x; by items the res2/res3 layers 2-10% faster).
    const std::int64_t items_each = (items + threads - 1) / threads;
    split_blocks = by_blocks < by_items ||
                   (by_blocks <= by_items * (1.0 + 1e-9) && items_each < kIgemmTeamMinItems);
  }
  // Team packing when one pack holds every block of a chunk, the items are split (one group)
  // and the chunks run outermost anyway (one chunk, or a share's output that fits in cache):
  // the packing is divided instead of repeated by every thread. The buffer is thread 0's.
  std::byte* slots = bytes + s.shared_bytes;
  const Share largest = thread_share(items, s.oc_blocks, split_blocks, 0, threads);  // thread 0's
  const bool team_packing = threads > 1 && !split_blocks && packed == nullptr && g.groups == 1 &&
                            s.blocks_per_pack == s.oc_blocks && s.chunks_outer != 0 &&
                            (s.chunks == 1 || chunks_outermost(s, largest.item_end - largest.item_begin, s.oc_blocks));
  // With team packing and enough tiles, the items run as kIgemmDynamicParts parts per thread,
  // handed out dynamically: the host's slowing of one vCPU (1.5x between the two threads'
  // busy time in video_3d_k3's profile) then costs less than with one static share each
  // (2 threads, interleaved A/B: video_3d_k3 medians 6-9% faster, res2_3x3 and dilated_3x3_d2
  // unchanged; with fewer, larger parts, e.g. 3 parts for 2 threads, res3_3x3_s2 lost 7-16%).
  const std::int64_t team_parts =
      team_packing && items >= kIgemmDynamicParts * threads * kIgemmTeamMinItems ? kIgemmDynamicParts * threads : 1;
  parallel_team(threads, [&] {
    const int thread = thread_index(), team = team_size();
    const Share share = thread_share(items, s.oc_blocks, split_blocks, thread, team);
    const TeamPacking packing{team_packing ? reinterpret_cast<float*>(slots) : nullptr, thread, team, team_parts,
                              nonfinite};
    run_thread(g, s, x, packed, tap_offsets, bias, slots + std::size_t(thread) * s.slot_bytes, share, packing, op);
  });
}

// The implicit-GEMM entry an inner operation's channel tiles of `family` run as: its OCB and
// pmax, the ISA's weight packing and window copy.
IgemmKernel op_tile_kernel(const custom::OpIsaKernels& op, const custom::ChannelTileFamily& family) {
  for (const IgemmKernel& kernel : all_igemm_kernels()) {
    if (int(kernel.isa) != op.isa || kernel.ocv != family.ocv) continue;
    IgemmKernel tiles = kernel;
    tiles.ocv = family.ocv;
    tiles.lanes = op.lanes;
    tiles.pmax = family.pmax;
    tiles.by_pixels = nullptr;  // (the op's tiles instead)
    return tiles;
  }
  return all_igemm_kernels().front();
}

// The tile family of the op's kernels that the problem runs cheapest with (igemm_row_cost).
int choose_tile_family(const custom::OpIsaKernels& op, const ConvGeometry& g) {
  int best = 0;
  double best_cost = 0.0;
  for (int f = 0; f < custom::kTileFamilies; ++f) {
    const double cost = igemm_row_cost(op_tile_kernel(op, op.channel_tiles[f]), g);
    if (f == 0 || cost < best_cost) best = f, best_cost = cost;
  }
  return best;
}

class PreparedImplicitGemm final : public TypedPreparedConv<PreparedImplicitGemm, true> {
 public:
  static constexpr Engine kEngine = Engine::implicit_gemm;
  explicit PreparedImplicitGemm(const ConvProblem& problem)
      : TypedPreparedConv(problem),
        op_kernels_(problem.convolution() ? nullptr : active_op_kernels(problem.op->table())),
        op_family_(op_kernels_ ? choose_tile_family(*op_kernels_, problem.geometry) : 0),
        op_tiles_(op_kernels_ ? op_tile_kernel(*op_kernels_, op_kernels_->channel_tiles[op_family_]) : IgemmKernel{}),
        setup_(igemm_setup(problem.geometry, op_kernels_ ? &op_tiles_ : nullptr)),
        op_params_(*problem.op) {}

  // Shared part plus one slot per thread.
  std::size_t workspace_bytes() const override {
    return setup_.shared_bytes + setup_.slot_bytes * std::size_t(problem().max_threads);
  }
  std::string kernel_name() const override {
    if (op_kernels_)
      return std::string(problem().op->table().name) + " channel tiles " + std::to_string(setup_.kernel->pmax) + "x" +
             std::to_string(setup_.ocb) + "__" + isa_name(Isa(op_kernels_->isa));
    return setup_.kernel->family_name();
  }

  std::unique_ptr<PackedWeights> pack_weights_typed(const View5<float>& weight) const {
    const ConvGeometry& g = geometry();
    const IgemmSetup& s = setup_;
    auto packed = std::make_unique<IgemmPackedWeights>();
    packed->ocb = s.ocb;
    const std::int64_t block_floats = s.in_per_group * s.taps * s.ocb;
    packed->data.resize(std::size_t(g.groups * s.oc_blocks * block_floats));
    for (std::int64_t group = 0; group < g.groups; ++group)
      for (std::int64_t b = 0; b < s.oc_blocks; ++b)
        pack_block(g, s, weight, group, b, 0, s.in_per_group,
                   packed->data.data() + (group * s.oc_blocks + b) * block_floats);
    return packed;
  }

  // `nonfinite`: see TeamPacking (the convolution only).
  void run_typed(const ConvOperands<float>& operands, void* workspace, int threads,
                 std::atomic<bool>* nonfinite = nullptr) const {
    const OpRun op = op_kernels_ ? OpRun{problem().op, op_kernels_, op_kernels_->channel_tiles[op_family_].tiles,
                                         &op_params_, op_tiles_.store}
                                 : OpRun{};
    run_forward(geometry(), setup_, operands, workspace, threads, op, nonfinite);
  }

 private:
  const custom::OpIsaKernels* op_kernels_;  // an inner operation's, or null
  int op_family_;                           // its channel-tile family
  IgemmKernel op_tiles_;
  IgemmSetup setup_;
  OpParams op_params_;
};

class ImplicitGemmEngine final : public ConvEngine {
 public:
  Engine id() const override { return Engine::implicit_gemm; }
  Preparation prepare(const ConvProblem& problem) const override {
    if (problem.direction == Direction::backward_data) return prepare_igemm_backward_data(problem);
    if (problem.direction != Direction::forward)
      return Preparation::decline("forward and backward_data only");
    if (problem.dtype != DType::float32) return Preparation::decline("float32 only");
    if (!problem.convolution())
      if (std::string missing = op_kernels_missing(*problem.op); !missing.empty())
        return Preparation::decline(std::move(missing));
    return Preparation::take(std::make_unique<PreparedImplicitGemm>(problem));
  }
};

}  // namespace

std::unique_ptr<PreparedConv> prepare_igemm_forward(const ConvProblem& problem) {
  return std::make_unique<PreparedImplicitGemm>(problem);
}

void run_igemm_forward(const PreparedConv& prepared, const ConvOperands<float>& operands, void* workspace,
                       int threads, std::atomic<bool>* nonfinite) {
  static_cast<const PreparedImplicitGemm&>(prepared).run_typed(operands, workspace, threads, nonfinite);
}

const ConvEngine& implicit_gemm_engine() {
  static const ImplicitGemmEngine engine;
  return engine;
}

}  // namespace fastconv::detail
