// few_channels_engine.cpp — see few_channels_engine.hpp.
#include "engines/few_channels/few_channels_engine.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/int_division.hpp"
#include "core/parallel.hpp"
#include "core/profile.hpp"
#include "engines/direct_op/plane_op_forward.hpp"
#include "isa/cpu_isa.hpp"
#include "kernels/few_channels/few_channels_kernel.hpp"

namespace fastconv::detail {
namespace {

// Taken: C/groups <= 4 (any K/groups), or thin groups with C/groups <= 16 and K/groups <= 16
// (ResNeXt-style), where output-channel vector lanes would idle and per-group GEMMs are tiny.
constexpr std::int64_t kTileWidth = 256;                  // output pixels per window tile (about)
constexpr std::int64_t kWindowBudgetBytes = 512 * 1024;   // per thread, for the row windows
constexpr std::int64_t kPlaneBudgetFloats = 64 * 1024;  // plane mode: padded planes + output
// Outputs above this many bytes per thread (about twice a core's L2) are written with
// non-temporal stores: no read for ownership, and the writes drain while the kernel computes.
constexpr double kStreamingMinBytesPerThread = 4.0 * 1024 * 1024;

std::size_t round_up(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

// Floats from p to the next 64-byte boundary (0 when p is not float-aligned).
std::int64_t floats_to_line(const float* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  return address % sizeof(float) == 0 ? std::int64_t((64 - address % 64) % 64 / sizeof(float)) : 0;
}

int lanes_of(Isa isa) { return isa == Isa::avx512 ? 16 : (isa == Isa::avx2 ? 8 : 4); }

// The kernel of the active ISA with the fewest estimated cycles per output pixel and tap for
// all K/g channels: per tile max(FMAs, loads) over its pixels, times the channel blocks. Ties go
// to the larger KB (fewer passes over the inputs).
const FewChannelsKernel& choose_kernel(std::int64_t k_per_group) {
  const Isa isa = active_isa();
  const FewChannelsKernel* best = nullptr;
  double best_cost = 0;
  for (const FewChannelsKernel& kernel : all_few_channels_kernels()) {
    if (kernel.isa != isa) continue;
    const int vectors = kernel.width / lanes_of(isa);
    const double blocks = double(ceil_div(k_per_group, kernel.kb));
    const double cost = blocks * double(std::max(kernel.kb * vectors, kernel.kb + vectors)) / kernel.width;
    if (best == nullptr || cost <= best_cost) {
      best = &kernel;
      best_cost = cost;
    }
  }
  return *best;
}

// Everything about a problem's tiling that does not depend on the operands' data.
struct Plan {
  const FewChannelsKernel* kernel = nullptr;
  std::int64_t c_per_group = 0, k_per_group = 0, k_blocks = 0, kb = 0;
  std::int64_t kernel_rows = 0;  // C/g * KD * KH
  std::int64_t taps = 0;         // kernel_rows * KW
  std::int64_t tile_width = 0;
  std::int64_t shift_min = 0, span = 0, phases = 0, window_length = 0;
  std::vector<std::int64_t> phase_slot, shift;  // per kw: window phase index, shift - shift_min
  // Plane mode (small 2-D planes at stride 1): the group's input planes copied once, zero-padded,
  // to padded_w-wide rows; output pixel oh * padded_w + ow then reads tap (kh, kw) at a constant
  // offset, so one kernel call covers the whole plane (columns ow >= OW are computed and dropped).
  bool plane_mode = false;
  std::int64_t padded_h = 0, padded_w = 0, flat_count = 0;
  // Workspace, in floats / bytes.
  std::int64_t packed_floats = 0;
  std::size_t shared_bytes = 0, thread_bytes = 0;  // the workspace: shared part, then a slot per thread
};

Plan make_plan(const ConvGeometry& g) {
  Plan p;
  p.c_per_group = g.in_channels_per_group();
  p.k_per_group = g.out_channels_per_group();
  p.kernel = &choose_kernel(p.k_per_group);
  p.kb = p.kernel->kb;
  p.k_blocks = ceil_div(p.k_per_group, p.kb);
  p.kernel_rows = p.c_per_group * g.kernel[0] * g.kernel[1];
  p.taps = p.kernel_rows * g.kernel[2];
  const std::int64_t sw = g.stride[2];
  std::vector<std::int64_t> phase(std::size_t(g.kernel[2])), raw_shift(std::size_t(g.kernel[2]));
  std::int64_t shift_max = 0;
  for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw) {
    const std::int64_t offset = kw * g.dilation[2] - g.pad_begin[2];
    raw_shift[std::size_t(kw)] = floor_div(offset, sw);
    phase[std::size_t(kw)] = offset - raw_shift[std::size_t(kw)] * sw;
    p.shift_min = kw == 0 ? raw_shift[0] : std::min(p.shift_min, raw_shift[std::size_t(kw)]);
    shift_max = kw == 0 ? raw_shift[0] : std::max(shift_max, raw_shift[std::size_t(kw)]);
  }
  p.span = shift_max - p.shift_min;
  std::vector<std::int64_t> used;
  for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw) {
    auto it = std::find(used.begin(), used.end(), phase[std::size_t(kw)]);
    if (it == used.end()) it = used.insert(used.end(), phase[std::size_t(kw)]);
    p.phase_slot.push_back(it - used.begin());
    p.shift.push_back(raw_shift[std::size_t(kw)] - p.shift_min);
  }
  p.phases = std::int64_t(used.size());
  // Tiles: a whole number of kernel tiles near kTileWidth, smaller when the windows of a large
  // kernel would exceed the budget.
  const std::int64_t width = p.kernel->width;
  p.tile_width = width * std::max<std::int64_t>(1, ceil_div(kTileWidth, width));
  const std::int64_t window_rows = p.kernel_rows * p.phases + 1;  // + the zero row
  const std::int64_t budget_width =
      std::int64_t(kWindowBudgetBytes / sizeof(float)) / window_rows - p.span;
  p.tile_width = std::clamp<std::int64_t>(budget_width, 16, p.tile_width);
  p.tile_width = std::min(p.tile_width, std::max<std::int64_t>(g.out[2], 1));
  p.window_length = p.tile_width + p.span;

  p.packed_floats = g.groups * p.k_blocks * p.taps * p.kb;
  p.shared_bytes = round_up(std::size_t(p.packed_floats) * sizeof(float)) +
                   round_up(std::size_t(g.out_channels) * sizeof(float)) + round_up(std::size_t(g.groups));
  p.thread_bytes = round_up(std::size_t(window_rows * p.window_length) * sizeof(float)) +  // windows
                   round_up(std::size_t(p.k_blocks * p.taps * p.kb) * sizeof(float)) +  // compact weights
                   round_up(std::size_t(p.kb * p.tile_width) * sizeof(float)) + // dst tile buffer
                   round_up(std::size_t(p.taps) * sizeof(const float*)) +       // tap pointers
                   round_up(std::size_t(2 * p.taps) * sizeof(std::int64_t)) +   // tap valid ranges
                   round_up(std::size_t(p.kernel_rows) * sizeof(const float*)); // kernel rows

  p.padded_h = g.in[1] + g.pad_begin[1] + g.pad_end[1];
  p.padded_w = g.in[2] + g.pad_begin[2] + g.pad_end[2];
  p.flat_count = (g.out[1] - 1) * p.padded_w + g.out[2];
  const std::int64_t plane_floats = p.c_per_group * p.padded_h * p.padded_w + p.kb * p.flat_count;
  p.plane_mode = g.stride[1] == 1 && g.stride[2] == 1 && g.kernel[0] == 1 && g.pad_begin[0] == 0 &&
                 g.pad_end[0] == 0 && plane_floats <= kPlaneBudgetFloats;
  if (p.plane_mode)
    p.thread_bytes = round_up(std::size_t(plane_floats) * sizeof(float)) +
                     round_up(std::size_t(p.taps) * sizeof(const float*));
  return p;
}

// Weights (K, C/g, KD, KH, KW) -> [group][k block][tap (c, kd, kh, kw)][KB], zero-padded past K/g;
// finite[group] says whether every weight of the group is finite.
void pack_weights_into(const ConvGeometry& g, const Plan& p, const View5<float>& weight, float* packed,
                       unsigned char* finite) {
  for (std::int64_t group = 0; group < g.groups; ++group) {
    bool all_finite = true;
    for (std::int64_t block = 0; block < p.k_blocks; ++block) {
      float* out = packed + (group * p.k_blocks + block) * p.taps * p.kb;
      std::int64_t t = 0;
      for (std::int64_t c = 0; c < p.c_per_group; ++c)
        for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd)
          for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
            for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw, ++t)
              for (std::int64_t b = 0; b < p.kb; ++b) {
                const std::int64_t k_in_group = block * p.kb + b;
                const float value = k_in_group < p.k_per_group
                                        ? weight.at(group * p.k_per_group + k_in_group, c, kd, kh, kw)
                                        : 0.0f;
                all_finite = all_finite && std::isfinite(value);
                out[t * p.kb + b] = value;
              }
    }
    finite[group] = all_finite ? 1 : 0;
  }
}

struct FewChannelsPackedWeights final : PackedWeights {
  const FewChannelsKernel* kernel = nullptr;
  std::vector<float> weights;
  std::vector<unsigned char> finite;
};

// One thread's workspace.
struct ThreadSlot {
  float* windows;  // kernel_rows * phases rows of window_length, then one zero row
  float* zero_row;
  float* compact_weights;
  float* dst_tile;
  const float** taps;
  std::int64_t* valid;  // per tap: its valid pixels [begin, end) in row mode with edges
  const float** rows;   // per kernel row: the source row, or null outside the image
};

ThreadSlot thread_slot(const Plan& p, std::byte* base) {
  ThreadSlot s;
  std::byte* at = base;
  auto take = [&](std::size_t bytes) {
    std::byte* result = at;
    at += round_up(bytes);
    return result;
  };
  s.windows = reinterpret_cast<float*>(take(std::size_t((p.kernel_rows * p.phases + 1) * p.window_length) * sizeof(float)));
  s.zero_row = s.windows + p.kernel_rows * p.phases * p.window_length;
  s.compact_weights = reinterpret_cast<float*>(take(std::size_t(p.k_blocks * p.taps * p.kb) * sizeof(float)));
  s.dst_tile = reinterpret_cast<float*>(take(std::size_t(p.kb * p.tile_width) * sizeof(float)));
  s.taps = reinterpret_cast<const float**>(take(std::size_t(p.taps) * sizeof(const float*)));
  s.valid = reinterpret_cast<std::int64_t*>(take(std::size_t(2 * p.taps) * sizeof(std::int64_t)));
  s.rows = reinterpret_cast<const float**>(take(std::size_t(p.kernel_rows) * sizeof(const float*)));
  std::fill(s.zero_row, s.zero_row + p.window_length, 0.0f);
  return s;
}

struct RunContext {
  const ConvGeometry& g;
  const Plan& p;
  const ConvOperands<float>& x;
  const float* weights;          // packed
  const unsigned char* finite;   // per group
  const float* bias;             // contiguous copy, or null
  bool stream_dst;               // the kernels may store dst non-temporally
};

// Copies kernel row `source` (unit-stride pixels at source[i * step]) for output pixels
// [o0, o0 + count) into its phase windows, zeros outside the image.
void fill_windows(const RunContext& r, const float* source, std::int64_t o0, std::int64_t count, float* windows) {
  const ProfileScope scope(Phase::transforms);
  const ConvGeometry& g = r.g;
  const Plan& p = r.p;
  const std::int64_t sw = g.stride[2], step = r.x.src.strides[4], width = g.in[2];
  const std::int64_t length = count + p.span;
  std::int64_t filled = 0;
  for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw) {
    const std::int64_t slot = p.phase_slot[std::size_t(kw)];
    if (slot != filled) continue;  // slots appear in kw order: fill each once
    ++filled;
    const std::int64_t phase = kw * g.dilation[2] - g.pad_begin[2] - (p.shift[std::size_t(kw)] + p.shift_min) * sw;
    float* window = windows + slot * p.window_length;
    const std::int64_t first = (o0 + p.shift_min) * sw + phase;  // input column of window[0]
    // window[j] = source[first + j * sw] where that column is inside the image.
    const std::int64_t begin = std::clamp<std::int64_t>(ceil_div(-first, sw), 0, length);
    const std::int64_t end = std::clamp<std::int64_t>(ceil_div(width - first, sw), begin, length);
    std::fill(window, window + begin, 0.0f);
    if (sw == 1 && step == 1) {
      std::memcpy(window + begin, source + first + begin, std::size_t(end - begin) * sizeof(float));
    } else {
      for (std::int64_t j = begin; j < end; ++j) window[j] = source[(first + j * sw) * step];
    }
    std::fill(window + end, window + length, 0.0f);
  }
}

enum class TapMode {
  window,  // taps read the tile's windows (copies with the padding's zeros)
  direct,  // taps read inside unit-stride source rows at stride 1
  edges,   // taps read unit-stride source rows at stride 1, the kernel masking their padding
};

// Output pixels [o0, o0 + count) of one output row.
void forward_tile(const RunContext& r, const ThreadSlot& s, std::int64_t n, std::int64_t group,
                  std::int64_t od, std::int64_t oh, std::int64_t o0, std::int64_t count, TapMode mode) {
  const ConvGeometry& g = r.g;
  const Plan& p = r.p;
  const bool finite = r.finite[group] != 0;
  const std::int64_t kernel_w = g.kernel[2];
  std::int64_t tap = 0;
  bool skipped = false;
  for (std::int64_t row = 0; row < p.kernel_rows; ++row) {
    const float* source = s.rows[row];
    if (source == nullptr) {
      if (finite) {
        skipped = true;
        continue;
      }
      for (std::int64_t kw = 0; kw < kernel_w; ++kw) s.taps[tap++] = s.zero_row + p.shift[std::size_t(kw)];
    } else if (mode == TapMode::direct) {
      for (std::int64_t kw = 0; kw < kernel_w; ++kw)
        s.taps[tap++] = source + o0 + kw * g.dilation[2] - g.pad_begin[2];
    } else if (mode == TapMode::edges) {
      // Tap kw reads source column o0 + j + offset for output pixel j; integer arithmetic, as the
      // pointer may stand before the row.
      for (std::int64_t kw = 0; kw < kernel_w; ++kw, ++tap) {
        const std::int64_t offset = o0 + kw * g.dilation[2] - g.pad_begin[2];
        s.taps[tap] = reinterpret_cast<const float*>(reinterpret_cast<std::uintptr_t>(source) +
                                                     std::uintptr_t(offset) * sizeof(float));
        s.valid[2 * tap] = std::clamp<std::int64_t>(-offset, 0, count);
        s.valid[2 * tap + 1] = std::clamp<std::int64_t>(g.in[2] - offset, s.valid[2 * tap], count);
      }
    } else {
      float* windows = s.windows + row * p.phases * p.window_length;
      fill_windows(r, source, o0, count, windows);
      for (std::int64_t kw = 0; kw < kernel_w; ++kw)
        s.taps[tap++] = windows + p.phase_slot[std::size_t(kw)] * p.window_length + p.shift[std::size_t(kw)];
    }
  }
  // tap == 0 (every kernel row in the padding) still writes the epilogue of an empty sum.
  std::int64_t valid_begin = 0, valid_end = count;
  for (std::int64_t t = 0; mode == TapMode::edges && t < tap; ++t) {
    valid_begin = std::max(valid_begin, s.valid[2 * t]);
    valid_end = std::min(valid_end, s.valid[2 * t + 1]);
  }

  const auto& ds = r.x.dst.strides;
  const bool unit_dst = ds[4] == 1;
  // A unit-stride dst takes every channel block in one call (one store pipe across them); the dst
  // buffer of other strides holds one block.
  const std::int64_t blocks_per_call = unit_dst ? p.k_blocks : 1;
  for (std::int64_t block = 0; block < p.k_blocks; block += blocks_per_call) {
    const ProfileScope scope(Phase::microkernel);  // with the tile's store
    const float* block_weights = r.weights + (group * p.k_blocks + block) * p.taps * p.kb;
    if (skipped) {  // the weights of the kernel rows inside the image, in tap order, per block
      for (std::int64_t b = 0; b < blocks_per_call; ++b) {
        float* compact = s.compact_weights + b * tap * p.kb;
        std::int64_t t = 0;
        for (std::int64_t row = 0; row < p.kernel_rows; ++row) {
          if (s.rows[row] == nullptr) continue;
          std::memcpy(compact + t * p.kb, block_weights + (b * p.taps + row * kernel_w) * p.kb,
                      std::size_t(kernel_w * p.kb) * sizeof(float));
          t += kernel_w;
        }
      }
      block_weights = s.compact_weights;
    }
    const std::int64_t k0 = group * p.k_per_group + block * p.kb;
    const int channels = int(std::min(blocks_per_call * p.kb, p.k_per_group - block * p.kb));
    float* dst = r.x.dst.data + n * ds[0] + k0 * ds[1] + od * ds[2] + oh * ds[3] + o0 * ds[4];
    FewChannelsTile<float> tile;
    tile.taps = s.taps;
    tile.weights = block_weights;
    tile.tap_count = tap;
    tile.dst = unit_dst ? dst : s.dst_tile;
    tile.dst_channel_stride = unit_dst ? ds[1] : p.tile_width;
    tile.count = count;
    tile.channels = channels;
    tile.stream_dst = r.stream_dst && unit_dst;
    if (mode == TapMode::edges) {
      tile.valid = s.valid;
      tile.valid_begin = valid_begin;
      tile.valid_end = std::max(valid_begin, valid_end);
    }
    EpilogueParams<float> epilogue;
    epilogue.bias = r.bias ? r.bias + k0 : nullptr;
    p.kernel->run(tile, epilogue);
    if (!unit_dst)
      for (int b = 0; b < channels; ++b)
        for (std::int64_t j = 0; j < count; ++j) dst[b * ds[1] + j * ds[4]] = s.dst_tile[b * p.tile_width + j];
  }
}

void forward_row(const RunContext& r, const ThreadSlot& s, std::int64_t n, std::int64_t group,
                 std::int64_t od, std::int64_t oh) {
  const ConvGeometry& g = r.g;
  const Plan& p = r.p;
  const auto& ss = r.x.src.strides;
  // The kernel rows (c, kd, kh) and their source rows.
  std::int64_t row = 0;
  for (std::int64_t c = 0; c < p.c_per_group; ++c) {
    const float* plane = r.x.src.plane(n, group * p.c_per_group + c);
    for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const std::int64_t id = od * g.stride[0] + kd * g.dilation[0] - g.pad_begin[0];
      for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh, ++row) {
        const std::int64_t ih = oh * g.stride[1] + kh * g.dilation[1] - g.pad_begin[1];
        const bool inside = id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1];
        s.rows[row] = inside ? plane + id * ss[2] + ih * ss[3] : nullptr;
      }
    }
  }
  const std::int64_t out_w = g.out[2];
  const auto& ds = r.x.dst.strides;
  const float* dst_row = r.x.dst.data + n * ds[0] + group * p.k_per_group * ds[1] + od * ds[2] + oh * ds[3];
  const bool finite = r.finite[group] != 0;
  if (g.stride[2] == 1 && ss[4] == 1 && ds[4] == 1 && finite) {
    // Unit strides: the whole row in place, the kernel masking the taps' padding. Split where the
    // dst row is 64-byte aligned, so whole-vector stores never split cache lines and may stream.
    const std::int64_t head = out_w > 64 ? floats_to_line(dst_row) : 0;
    if (head > 0) forward_tile(r, s, n, group, od, oh, 0, head, TapMode::edges);
    forward_tile(r, s, n, group, od, oh, head, out_w - head, TapMode::edges);
    return;
  }
  // Output columns whose taps all read inside unit-stride rows at stride 1: read in place.
  std::int64_t interior_begin = 0, interior_end = 0;
  if (g.stride[2] == 1 && ss[4] == 1) {
    interior_begin = std::min(out_w, g.pad_begin[2]);
    interior_end = std::clamp(g.in[2] - (g.kernel[2] - 1) * g.dilation[2] + g.pad_begin[2], interior_begin, out_w);
  }
  if (interior_end - interior_begin < out_w && out_w <= p.tile_width) {
    // A short row with edges: one window tile (one kernel call) instead of three.
    interior_begin = interior_end = 0;
  } else if (ds[4] == 1 && interior_end - interior_begin > 64) {
    // Start the in-place part where the dst row is 64-byte aligned: whole-vector stores then
    // never split cache lines.
    interior_begin += floats_to_line(dst_row + interior_begin);
  }
  if (interior_end < out_w && interior_end - interior_begin >= p.kernel->width) {
    // The right edge goes through a window anyway: hand it the interior's partial tile too, so
    // the in-place part is whole kernel tiles and the row has one partial tile instead of two
    // (measured 3-5% faster on the 1024^2 seed layer when it still took this path).
    interior_end = interior_begin + (interior_end - interior_begin) / p.kernel->width * p.kernel->width;
  }
  auto tiles = [&](std::int64_t begin, std::int64_t end, TapMode mode) {
    // Tiles of tile_width: the zero row (non-finite weights) and the dst buffer (non-unit dst
    // stride) hold that many pixels. (Unit strides with finite weights returned above.)
    for (std::int64_t o0 = begin; o0 < end; o0 += p.tile_width)
      forward_tile(r, s, n, group, od, oh, o0, std::min(p.tile_width, end - o0), mode);
  };
  tiles(0, interior_begin, TapMode::window);
  tiles(interior_begin, interior_end, TapMode::direct);
  tiles(interior_end, out_w, TapMode::window);
}

// Plane mode: every output pixel of image n, group `group`, output depth od in one kernel call
// per channel block, on the zero-padded copies of the group's input planes.
void forward_plane(const RunContext& r, std::byte* slot_base, std::int64_t n, std::int64_t group, std::int64_t od) {
  const ConvGeometry& g = r.g;
  const Plan& p = r.p;
  const auto& ss = r.x.src.strides;
  const auto& ds = r.x.dst.strides;
  const std::int64_t plane_size = p.padded_h * p.padded_w;
  float* planes = reinterpret_cast<float*>(slot_base);
  float* out = planes + p.c_per_group * plane_size;
  const auto** taps = reinterpret_cast<const float**>(
      slot_base + round_up(std::size_t(p.c_per_group * plane_size + p.kb * p.flat_count) * sizeof(float)));
  const std::int64_t id = od * g.stride[0];
  const std::int64_t top = g.pad_begin[1], left = g.pad_begin[2], width = g.in[2];
  std::int64_t tap = 0;
  for (std::int64_t c = 0; c < p.c_per_group; ++c) {
    const ProfileScope scope(Phase::transforms);  // the padded input plane
    float* plane = planes + c * plane_size;
    const float* source = r.x.src.plane(n, group * p.c_per_group + c) + id * ss[2];
    std::fill(plane, plane + top * p.padded_w, 0.0f);
    for (std::int64_t h = 0; h < g.in[1]; ++h) {
      float* row = plane + (top + h) * p.padded_w;
      const float* source_row = source + h * ss[3];
      std::fill(row, row + left, 0.0f);
      if (ss[4] == 1) {
        std::memcpy(row + left, source_row, std::size_t(width) * sizeof(float));
      } else {
        for (std::int64_t w = 0; w < width; ++w) row[left + w] = source_row[w * ss[4]];
      }
      std::fill(row + left + width, row + p.padded_w, 0.0f);
    }
    std::fill(plane + (top + g.in[1]) * p.padded_w, plane + plane_size, 0.0f);
    for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
      for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw)
        taps[tap++] = plane + kh * g.dilation[1] * p.padded_w + kw * g.dilation[2];
  }
  for (std::int64_t block = 0; block < p.k_blocks; ++block) {
    const ProfileScope scope(Phase::microkernel);  // with the tile's store
    const std::int64_t k0 = group * p.k_per_group + block * p.kb;
    const int channels = int(std::min(p.kb, p.k_per_group - block * p.kb));
    FewChannelsTile<float> tile;
    tile.taps = taps;
    tile.weights = r.weights + (group * p.k_blocks + block) * p.taps * p.kb;
    tile.tap_count = tap;
    tile.dst = out;
    tile.dst_channel_stride = p.flat_count;
    tile.count = p.flat_count;
    tile.channels = channels;
    EpilogueParams<float> epilogue;
    epilogue.bias = r.bias ? r.bias + k0 : nullptr;
    p.kernel->run(tile, epilogue);
    for (int b = 0; b < channels; ++b)
      for (std::int64_t oh = 0; oh < g.out[1]; ++oh) {
        float* dst = r.x.dst.data + n * ds[0] + (k0 + b) * ds[1] + od * ds[2] + oh * ds[3];
        const float* computed = out + b * p.flat_count + oh * p.padded_w;
        if (ds[4] == 1) {
          std::memcpy(dst, computed, std::size_t(g.out[2]) * sizeof(float));
        } else {
          for (std::int64_t ow = 0; ow < g.out[2]; ++ow) dst[ow * ds[4]] = computed[ow];
        }
      }
  }
}

void forward(const ConvGeometry& g, const Plan& p, const ConvOperands<float>& x, void* workspace,
             int thread_budget) {
  auto* shared = static_cast<std::byte*>(workspace);
  const float* weights = nullptr;
  const unsigned char* finite = nullptr;
  const auto* prepacked = dynamic_cast<const FewChannelsPackedWeights*>(x.packed_weights);
  float* bias_copy = reinterpret_cast<float*>(shared + round_up(std::size_t(p.packed_floats) * sizeof(float)));
  auto* finite_flags = reinterpret_cast<unsigned char*>(
      reinterpret_cast<std::byte*>(bias_copy) + round_up(std::size_t(g.out_channels) * sizeof(float)));
  if (prepacked != nullptr && prepacked->kernel == p.kernel) {
    weights = prepacked->weights.data();
    finite = prepacked->finite.data();
  } else {
    const ProfileScope scope(Phase::packing);
    pack_weights_into(g, p, x.weight, reinterpret_cast<float*>(shared), finite_flags);
    weights = reinterpret_cast<const float*>(shared);
    finite = finite_flags;
  }
  const float* bias = nullptr;
  if (x.bias.data != nullptr) {
    for (std::int64_t k = 0; k < g.out_channels; ++k) bias_copy[k] = x.bias[k];
    bias = bias_copy;
  }
  const int threads = threads_for_work(g.multiply_adds(), thread_budget);
  const double dst_bytes = double(g.batch) * double(g.out_channels) * double(g.out[0]) * double(g.out[1]) *
                           double(g.out[2]) * sizeof(float);
  const bool stream_dst = dst_bytes / threads >= kStreamingMinBytesPerThread;
  const RunContext context{g, p, x, weights, finite, bias, stream_dst};
  std::byte* slots = shared + p.shared_bytes;
  if (p.plane_mode) {
    const std::int64_t planes = g.batch * g.groups * g.out[0];
    parallel_team(threads, [&] {
#pragma omp for schedule(static)
      for (std::int64_t item = 0; item < planes; ++item) {
        std::byte* slot = slots + std::size_t(thread_index()) * p.thread_bytes;
        forward_plane(context, slot, item / (g.groups * g.out[0]), item / g.out[0] % g.groups, item % g.out[0]);
      }
    });
    return;
  }
  const std::int64_t rows = g.batch * g.groups * g.out[0] * g.out[1];
  parallel_team(threads, [&] {
    const ThreadSlot slot = thread_slot(p, slots + std::size_t(thread_index()) * p.thread_bytes);
#pragma omp for schedule(static) nowait
    for (std::int64_t item = 0; item < rows; ++item) {
      std::int64_t rest = item;
      const std::int64_t oh = rest % g.out[1];
      rest /= g.out[1];
      const std::int64_t od = rest % g.out[0];
      rest /= g.out[0];
      const std::int64_t group = rest % g.groups;
      const std::int64_t n = rest / g.groups;
      forward_row(context, slot, n, group, od, oh);
    }
    if (stream_dst) few_channels_store_fence();  // before the region's closing barrier
  });
}

class PreparedFewChannels final : public TypedPreparedConv<PreparedFewChannels, true> {
 public:
  static constexpr Engine kEngine = Engine::few_channels;
  explicit PreparedFewChannels(const ConvProblem& problem)
      : TypedPreparedConv(problem), plan_(make_plan(problem.geometry)) {}

  std::size_t workspace_bytes() const override {
    return plan_.shared_bytes + std::size_t(problem().max_threads) * plan_.thread_bytes;
  }
  std::string kernel_name() const override {
    return std::string(plan_.kernel->name) + (plan_.plane_mode ? " (plane mode)" : "");
  }

  std::unique_ptr<PackedWeights> pack_weights_typed(const View5<float>& weight) const {
    auto packed = std::make_unique<FewChannelsPackedWeights>();
    packed->kernel = plan_.kernel;
    packed->weights.resize(std::size_t(plan_.packed_floats));
    packed->finite.resize(std::size_t(geometry().groups));
    pack_weights_into(geometry(), plan_, weight, packed->weights.data(), packed->finite.data());
    return packed;
  }

  void run_typed(const ConvOperands<float>& operands, void* workspace, int threads) const {
    forward(geometry(), plan_, operands, workspace, threads);
  }

 private:
  Plan plan_;
};

class FewChannelsEngine final : public ConvEngine {
 public:
  Engine id() const override { return Engine::few_channels; }
  Preparation prepare(const ConvProblem& problem) const override {
    if (problem.direction != Direction::forward) return Preparation::decline("forward only");
    if (problem.dtype != DType::float32) return Preparation::decline("float32 only");
    const ConvGeometry& g = problem.geometry;
    const std::int64_t c = g.in_channels_per_group(), k = g.out_channels_per_group();
    if (c > kFewChannelsMaxThinGroup || (c > kFewChannelsMaxPerGroup && k > kFewChannelsMaxThinGroup))
      return Preparation::decline(
          "C/groups = " + std::to_string(c) + " > " + std::to_string(kFewChannelsMaxPerGroup) +
          " and not a thin group (C/groups and K/groups <= " + std::to_string(kFewChannelsMaxThinGroup) +
          "; K/groups = " + std::to_string(k) + ")");
    if (!problem.convolution()) return prepare_plane_op<Engine::few_channels>(problem);
    return Preparation::take(std::make_unique<PreparedFewChannels>(problem));
  }
};

}  // namespace

const ConvEngine& few_channels_engine() {
  static const FewChannelsEngine engine;
  return engine;
}

}  // namespace fastconv::detail
