// implicit_gemm_setup.hpp — the implicit_gemm engine's decisions for one forward float32
// problem, derived from the geometry alone (so workspace_bytes() and run() agree):
// which kernel, how output rows are cut into pixel tiles, the layout of the per-tile input
// window, how input channels are chunked and how many tiles share one chunk of windows, and the
// workspace they need.
//
// Window layout (per tile, per input channel): KD * KH kernel rows of `row_len` floats. A row
// holds the `span` input values the tile's P pixels read along W, de-interleaved by the stride:
// value x of the span sits at (x % stride_w) * phase_len + x / stride_w, so the P values one kernel
// tap reads are consecutive (tap_offsets). Padding is stored as zeros.
//
// Budgets per thread: packed weights of one channel chunk for the thread's output-channel
// blocks <= kWeightBudget bytes, windows of one block of tiles <= kWindowBudget bytes, so the
// workspace is independent of image size and batch.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/implicit_gemm/implicit_gemm_kernels.hpp"
#include "plan/conv_geometry.hpp"

namespace fastconv::detail {

inline constexpr std::int64_t kIgemmWeightBudget = 768 * 1024;
inline constexpr std::int64_t kIgemmWindowBudget = 224 * 1024;

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
  std::int64_t window_channel_stride = 0;  // kernel_rows * row_len
  std::int64_t chunk_channels = 0;         // input channels per chunk
  std::int64_t chunks = 0;
  std::int64_t blocks_per_pack = 0;        // output-channel blocks packed at once
  std::int64_t tiles_per_block = 0;        // tiles whose windows are built together
  std::int64_t items_per_group = 0;        // N * OD * OH * tiles_per_row
  // Workspace: shared part (window and direct tap offsets, padded bias), then one slot per thread.
  std::size_t direct_taps_offset = 0;  // tap offsets of tiles read straight from src
  std::size_t bias_offset = 0;  // padded bias (groups * oc_blocks * ocb floats) in the shared part
  std::size_t shared_bytes = 0;
  std::size_t pack_bytes = 0;  // start of a slot: packed weights, then the windows
  std::size_t slot_bytes = 0;

  std::int64_t tile_begin(std::int64_t tile) const;  // first output column of a tile
  std::int64_t tile_pixels(std::int64_t tile) const;
  std::int64_t out_w = 0;
};

// The decisions for a forward float32 problem on the active ISA (FASTCONV_IGEMM_KERNEL=<family
// name>, e.g. f32_igemm_14x32__avx512, forces a kernel entry of the active ISA for tuning).
IgemmSetup igemm_setup(const ConvGeometry& geometry);

}  // namespace fastconv::detail
