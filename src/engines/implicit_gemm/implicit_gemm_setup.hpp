// implicit_gemm_setup.hpp — the implicit_gemm engine's decisions for one forward float32
// problem, derived from the geometry alone (so workspace_bytes() and run() agree):
// which kernel, how output rows are cut into pixel tiles, the layout of the per-tile input
// window, how input channels are chunked and how many tiles share one chunk of windows, and the
// workspace they need.
//
// Windows: the tiles of a block are consecutive items (group, n, od, oh, tile) of one (n, od)
// plane; the tiles of one output row form a run. A block shorter than a row stays inside one row
// (one run); a longer one ends on a row boundary (at most min(tiles / tiles_per_row + 1, OH)
// runs). The block's window holds, per input channel and kernel depth kd, a band of input rows
// of `row_len` floats: the input values along W the block reads (from column origin * stride_w -
// pad), de-interleaved by the stride: value x sits at (x % stride_w) * phase_len + x / stride_w,
// so the P values one kernel tap reads for a tile are consecutive. When consecutive runs' kernel
// rows overlap (stride_h < the kernel's dilated height) the band is the input rows in order, run r
// starting at band row r * stride_h and kernel row kh at + kh * dilation_h; otherwise each run
// has its own KH rows (run_row_step = KH, kh_row_step = 1). Padding is stored as zeros.
//
// Budgets per thread: packed weights of one channel chunk for the thread's output-channel
// blocks <= kIgemmWeightBudget bytes, one block's window <= max(kIgemmWindowBudget,
// kIgemmSlotBudget - packed weights), so the workspace is independent of image size and batch.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/implicit_gemm/implicit_gemm_kernels.hpp"
#include "plan/conv_geometry.hpp"

namespace fastconv::detail {

inline constexpr std::int64_t kIgemmWeightBudget = 768 * 1024;
inline constexpr std::int64_t kIgemmWindowBudget = 224 * 1024;
// A slot (packed weights + window) stays within this; the window takes what the weights leave.
inline constexpr std::int64_t kIgemmSlotBudget = 960 * 1024;
// Output bytes of a thread's share up to which channel chunks are the outermost loop.
inline constexpr std::int64_t kIgemmChunkOuterOutputBytes = 1024 * 1024;
// Fewest pixel tiles per thread for which, when splitting the items and splitting the
// output-channel blocks balance equally, the items are split (the team sharing the packing).
inline constexpr std::int64_t kIgemmTeamMinItems = 16;
// Parts per thread when the team's items are handed out dynamically (each part at least
// kIgemmTeamMinItems tiles).
inline constexpr std::int64_t kIgemmDynamicParts = 4;

struct IgemmSetup {
  const IgemmKernel* kernel = nullptr;
  std::int64_t ocb = 0;                    // output channels per block (kernel OCB)
  std::int64_t in_per_group = 0;           // C/g
  std::int64_t out_per_group = 0;          // K/g
  std::int64_t oc_blocks = 0;              // per group
  std::int64_t taps = 0;                   // kernel volume
  std::int64_t kernel_rows = 0;            // KD * KH
  std::int64_t tiles_per_row = 0;          // pixel tiles per output row
  std::int64_t tile_max = 0;               // widest tile (pixels)
  std::int64_t phase_len = 0;              // window row: stride_w phases of phase_len floats
  std::int64_t row_len = 0;                // stride_w * phase_len
  std::int64_t window_channel_stride = 0;  // KD * kd_stride
  std::int64_t out_h = 0;
  bool rows_overlap = false;               // band = consecutive input rows (see above)
  std::int64_t run_row_step = 0;           // band rows between consecutive runs
  std::int64_t kh_row_step = 0;            // band rows between consecutive kernel rows
  std::int64_t band_rows_max = 0;          // band rows of the largest block
  std::int64_t kd_stride = 0;              // band_rows_max * row_len
  std::int64_t chunk_channels = 0;         // input channels per chunk
  std::int64_t chunks = 0;
  std::int64_t blocks_per_pack = 0;        // output-channel blocks packed at once
  std::int64_t tiles_per_block = 0;        // tiles whose windows are built together (a block)
  std::int64_t items_per_group = 0;        // N * OD * OH * tiles_per_row
  // Loop order with several chunks (see implicit_gemm_engine.cpp): -1 decide per thread share;
  // 0 blocks outermost, 1 chunks outermost (FASTCONV_IGEMM_CHUNKS_OUTER=0|1, for tests and tuning).
  int chunks_outer = -1;
  // Workspace: shared part (window tap offsets, padded bias), then one slot per thread.
  std::size_t bias_offset = 0;  // padded bias (groups * oc_blocks * ocb floats) in the shared part
  std::size_t shared_bytes = 0;
  std::size_t pack_bytes = 0;  // start of a slot: packed weights, then the windows
  std::size_t slot_bytes = 0;

  std::int64_t tile_begin(std::int64_t tile) const;  // first output column of a tile
  std::int64_t tile_pixels(std::int64_t tile) const;
  // Window row length (stride phases included) of a run of `tiles` tiles (at most a row).
  std::int64_t run_row_len(const ConvGeometry& g, std::int64_t tiles) const;
  // Most runs a block of `tiles` tiles can have.
  std::int64_t runs_per_block(std::int64_t tiles) const;
  // Band rows (per kernel depth) of a block with `runs` runs.
  std::int64_t band_rows(const ConvGeometry& g, std::int64_t runs) const;
  std::int64_t out_w = 0;
};

// Relative time of one output row with a kernel entry: per kernel tap and tile, the FMAs or the
// loads (OCV weight vectors + P broadcasts), whichever is more, plus the tile's store (NCHW
// transpose: lanes * log2(lanes) shuffles per vector of channels and block of pixels) spread
// over the reduction. (How the engine picks among the entries of the active ISA.)
double igemm_row_cost(const IgemmKernel& kernel, const ConvGeometry& geometry);

// The decisions for a forward float32 problem on the active ISA (FASTCONV_IGEMM_KERNEL=<family
// name>, e.g. f32_igemm_14x32__avx512, forces a kernel entry of the active ISA for tuning;
// FASTCONV_IGEMM_CHUNKS_OUTER=0|1 forces the loop order). `kernel`, when given, is used instead
// of the choice (an inner operation's tiles: its OCB and pmax, the ISA's packing and window copy).
IgemmSetup igemm_setup(const ConvGeometry& geometry, const IgemmKernel* kernel = nullptr);

}  // namespace fastconv::detail
