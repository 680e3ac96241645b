// implicit_gemm_setup.cpp — see implicit_gemm_setup.hpp.
#include "engines/implicit_gemm/implicit_gemm_setup.hpp"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <limits>
#include <string>

#include "isa/cpu_isa.hpp"

namespace fastconv::detail {
namespace {

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

std::size_t round_up_64(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

}  // namespace

double igemm_row_cost(const IgemmKernel& kernel, const ConvGeometry& g) {
  const std::int64_t out_w = g.out[2], kg = g.out_channels_per_group();
  const std::int64_t reduction = std::max<std::int64_t>(1, g.in_channels_per_group() * g.kernel_volume());
  const std::int64_t tiles = ceil_div(out_w, kernel.pmax);
  const std::int64_t blocks = ceil_div(kg, kernel.ocb());
  // The row's tiles have two widths: out_w % tiles of them one pixel wider than the rest (a
  // closed form: rows may be 2^40 pixels wide).
  const auto tile_cost = [&](std::int64_t pixels) {
    const double compute = double(std::max<std::int64_t>(kernel.ocv * pixels, kernel.ocv + pixels));
    const double store = double(kernel.ocv * ceil_div(pixels, kernel.lanes) * kernel.lanes *
                                std::countr_zero(unsigned(kernel.lanes))) / double(reduction);
    return double(blocks) * (compute + store);
  };
  if (tiles == 0) return 0.0;
  const std::int64_t base = out_w / tiles, wider = out_w % tiles;
  return double(wider) * tile_cost(base + 1) + double(tiles - wider) * tile_cost(base);
}

namespace {

const IgemmKernel* choose_kernel(const ConvGeometry& g) {
  const Isa isa = active_isa();
  const char* forced = std::getenv("FASTCONV_IGEMM_KERNEL");
  const IgemmKernel* best = nullptr;
  double best_cost = std::numeric_limits<double>::infinity();
  for (const IgemmKernel& kernel : all_igemm_kernels()) {
    if (kernel.isa != isa) continue;
    if (forced != nullptr && *forced != '\0' && kernel.family_name() == forced) return &kernel;
    const double cost = igemm_row_cost(kernel, g);
    if (cost < best_cost) {
      best_cost = cost;
      best = &kernel;
    }
  }
  return best;
}

}  // namespace

std::int64_t IgemmSetup::tile_begin(std::int64_t tile) const {
  const std::int64_t base = out_w / tiles_per_row, extra = out_w % tiles_per_row;
  return tile * base + std::min(tile, extra);
}

std::int64_t IgemmSetup::tile_pixels(std::int64_t tile) const {
  return out_w / tiles_per_row + (tile < out_w % tiles_per_row ? 1 : 0);
}

std::int64_t IgemmSetup::run_row_len(const ConvGeometry& g, std::int64_t tiles) const {
  const std::int64_t pixels = std::max<std::int64_t>(1, std::min(out_w, std::min(tiles, tiles_per_row) * tile_max));
  const std::int64_t stride_w = g.stride[2];
  const std::int64_t span = (pixels - 1) * stride_w + (g.kernel[2] - 1) * g.dilation[2] + 1;
  return stride_w * ceil_div(span, stride_w);
}

std::int64_t IgemmSetup::runs_per_block(std::int64_t tiles) const {
  return tiles < tiles_per_row ? 1 : std::min(tiles / tiles_per_row + 1, std::max<std::int64_t>(1, out_h));
}

std::int64_t IgemmSetup::band_rows(const ConvGeometry& g, std::int64_t runs) const {
  return rows_overlap ? (runs - 1) * g.stride[1] + (g.kernel[1] - 1) * g.dilation[1] + 1 : runs * g.kernel[1];
}

IgemmSetup igemm_setup(const ConvGeometry& g, const IgemmKernel* kernel) {
  IgemmSetup s;
  s.kernel = kernel != nullptr ? kernel : choose_kernel(g);
  s.ocb = s.kernel->ocb();
  s.in_per_group = g.in_channels_per_group();
  s.out_per_group = g.out_channels_per_group();
  s.oc_blocks = ceil_div(s.out_per_group, s.ocb);
  s.taps = g.kernel_volume();
  s.kernel_rows = g.kernel[0] * g.kernel[1];
  s.out_w = g.out[2];
  s.tiles_per_row = std::max<std::int64_t>(1, ceil_div(s.out_w, s.kernel->pmax));
  s.tile_max = std::max<std::int64_t>(1, ceil_div(s.out_w, s.tiles_per_row));

  s.out_h = g.out[1];
  s.rows_overlap = g.stride[1] < (g.kernel[1] - 1) * g.dilation[1] + 1;
  s.run_row_step = s.rows_overlap ? g.stride[1] : g.kernel[1];
  s.kh_row_step = s.rows_overlap ? g.dilation[1] : 1;

  // Channel chunks: the packed weights of a chunk for every block of the group fit the weight
  // budget (at least one channel), and a one-tile block's window fits the window budget.
  const std::int64_t weight_floats_per_channel = s.taps * s.ocb;
  const std::int64_t weight_budget = kIgemmWeightBudget / std::int64_t(sizeof(float));
  const std::int64_t window_budget = kIgemmWindowBudget / std::int64_t(sizeof(float));
  auto channel_window_floats = [&](std::int64_t tiles) {
    return g.kernel[0] * s.band_rows(g, s.runs_per_block(tiles)) * s.run_row_len(g, tiles);
  };
  if (s.in_per_group == 0) {
    s.chunk_channels = 0;
    s.chunks = 1;
  } else {
    std::int64_t chunk = weight_budget / std::max<std::int64_t>(1, weight_floats_per_channel * s.oc_blocks);
    chunk = std::min(chunk, window_budget / channel_window_floats(1));
    chunk = std::clamp<std::int64_t>(chunk, 1, s.in_per_group);
    s.chunks = ceil_div(s.in_per_group, chunk);
    s.chunk_channels = ceil_div(s.in_per_group, s.chunks);  // balanced chunks
  }
  const std::int64_t chunk_weights = std::max<std::int64_t>(1, s.chunk_channels * weight_floats_per_channel);
  s.blocks_per_pack = std::clamp<std::int64_t>(weight_budget / chunk_weights, 1, s.oc_blocks);
  s.items_per_group = g.batch * g.out[0] * g.out[1] * s.tiles_per_row;

  s.pack_bytes = round_up_64(std::size_t(s.blocks_per_pack * chunk_weights) * sizeof(float));

  // Tiles per block: the most whose window fits what the slot budget leaves after the packed
  // weights, at least the window budget (monotone in the count; binary search). Bigger blocks
  // copy each input row fewer times and reuse each packed weight over more tiles.
  const std::int64_t block_budget = std::max<std::int64_t>(
      window_budget, (kIgemmSlotBudget - std::int64_t(s.pack_bytes)) / std::int64_t(sizeof(float)));
  const std::int64_t channels = std::max<std::int64_t>(1, s.chunk_channels);
  std::int64_t lo = 1, hi = std::max<std::int64_t>(1, block_budget / (channels * s.kernel_rows));
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo + 1) / 2;
    if (channels * channel_window_floats(mid) <= block_budget) lo = mid; else hi = mid - 1;
  }
  s.tiles_per_block = lo;
  s.phase_len = s.run_row_len(g, s.tiles_per_block) / g.stride[2];
  s.row_len = g.stride[2] * s.phase_len;
  s.band_rows_max = s.band_rows(g, s.runs_per_block(s.tiles_per_block));
  s.kd_stride = s.band_rows_max * s.row_len;
  s.window_channel_stride = g.kernel[0] * s.kd_stride;

  if (const char* order = std::getenv("FASTCONV_IGEMM_CHUNKS_OUTER"); order != nullptr && *order != '\0')
    s.chunks_outer = std::string(order) == "0" ? 0 : 1;

  s.bias_offset = round_up_64(std::size_t(s.taps) * sizeof(std::int64_t));
  s.shared_bytes = s.bias_offset + round_up_64(std::size_t(g.groups * s.oc_blocks * s.ocb) * sizeof(float));
  s.slot_bytes = s.pack_bytes + round_up_64(std::size_t(s.chunk_channels * s.window_channel_stride) * sizeof(float));
  return s;
}

}  // namespace fastconv::detail
