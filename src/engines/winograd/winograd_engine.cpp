// winograd_engine.cpp — see winograd_engine.hpp.
#include "engines/winograd/winograd_engine.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/int_division.hpp"
#include "core/parallel.hpp"
#include "core/profile.hpp"
#include "engines/implicit_gemm/implicit_gemm_engine.hpp"
#include "isa/cpu_isa.hpp"
#include "kernels/implicit_gemm/implicit_gemm_kernels.hpp"
#include "kernels/winograd/winograd_kernels.hpp"

namespace fastconv::detail {
namespace {

std::size_t round_up(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

// A transform's check lanes (winograd_kernels.hpp), reduced.
struct CheckLanes {
  bool finite;
  float largest;
};
CheckLanes reduce_check(const float* lanes) {
  float sum = 0.0f, largest = 0.0f;
  for (int i = 0; i < kWinogradCheckLanes; ++i) sum += lanes[i];
  for (int i = kWinogradCheckLanes; i < 2 * kWinogradCheckLanes; ++i) largest = std::max(largest, lanes[i]);
  return {std::isfinite(sum), largest};
}

constexpr std::int64_t kMaxCallsPerBlock = 8;  // kernel calls (of Pmax tiles) per window block
constexpr std::int64_t kMaxBand = 16;           // output rows per window
constexpr std::int64_t kMaxBandRows = 64;       // input rows per (channel, kd) in a window (a 64-bit mask)

// The first implicit-GEMM kernel entry of the active ISA (the list's preferred one).
const IgemmKernel& kernel_of_active_isa() {
  const Isa isa = active_isa();
  for (const IgemmKernel& kernel : all_igemm_kernels())
    if (kernel.isa == isa) return kernel;
  return all_igemm_kernels().front();
}

struct Setup {
  const IgemmKernel* kernel = nullptr;
  const WinogradTransforms* transforms = nullptr;
  std::int64_t ocb = 0, pmax = 0;
  std::int64_t channels = 0, k_blocks = 0, kernel_rows = 0;  // C, ceil(K / OCB), KD * KH
  std::int64_t tiles_per_row = 0;    // ceil(OW / 2)
  std::int64_t tiles_per_block = 0;  // tiles whose window is built at once (a multiple of Pmax)
  std::int64_t blocks_per_row = 0;
  std::int64_t band_max = 0;         // output rows sharing one window (fewer at run time, see run_forward)
  std::int64_t band_rows = 0;        // window rows per (channel, kd): the input rows band_max rows read
  // Rows of one block only (stride_h 1): the window rows are exactly tiles_per_row apart, so
  // the band's output rows follow each other in the window and a kernel call spans rows.
  bool flat = false;
  std::int64_t row_stride = 0;       // window floats per row: tiles_per_row when flat, else a multiple of 16 >= tiles_per_block
  std::int64_t channel_stride = 0;   // window floats per channel: KD x band_rows x row_stride
  std::int64_t e_stride = 0;         // window floats per transform e: C x channel_stride + 16 (row tails)
  std::int64_t k_chunk = 0;          // blocks of OCB output channels whose weights are transformed at once
  std::int64_t product_stride = 0;   // floats per channel row of the products: >= Pmax
  std::size_t weights_bytes = 0, offsets_bytes = 0, bias_bytes = 0, limits_bytes = 0, shared_bytes = 0;
  std::size_t window_bytes = 0, slot_bytes = 0;
};

// Why the engine declines, or empty; *s filled when it takes the problem.
std::string check(Direction direction, const ConvGeometry& g, DType dtype, Setup* s) {
  if (direction != Direction::forward) return "forward only";
  if (dtype != DType::float32) return "float32 only";
  if (g.groups != 1) return "groups = " + std::to_string(g.groups) + " (takes groups = 1)";
  if (g.kernel[2] != 3 || g.stride[2] != 1 || g.dilation[2] != 1)
    return "kernel width " + std::to_string(g.kernel[2]) + ", stride " + std::to_string(g.stride[2]) +
           ", dilation " + std::to_string(g.dilation[2]) + " along W (takes 3, 1, 1)";
  Setup local;
  Setup& r = s ? *s : local;
  r.kernel = &kernel_of_active_isa();
  r.transforms = &winograd_transforms(r.kernel->isa);
  r.ocb = r.kernel->ocb();
  r.pmax = r.kernel->pmax;
  if (r.ocb > 64) return "kernel block of " + std::to_string(r.ocb) + " output channels (takes <= 64)";
  r.channels = g.in_channels;
  r.k_blocks = ceil_div(g.out_channels, r.ocb);
  r.kernel_rows = g.kernel[0] * g.kernel[1];
  r.tiles_per_row = ceil_div(g.out[2], 2);
  // Input rows per (channel, kd) that `band` consecutive output rows read, and the window bytes
  // for rows `row_stride` floats apart (plus the 16-float tail of each transform e).
  auto rows_of_band = [&](std::int64_t band) { return (band - 1) * g.stride[1] + (g.kernel[1] - 1) * g.dilation[1] + 1; };
  auto window_bytes = [&](std::int64_t row_stride, std::int64_t band) {
    return 4 * (r.channels * g.kernel[0] * rows_of_band(band) * row_stride + 16) * std::int64_t(sizeof(float));
  };
  auto padded = [](std::int64_t tiles) { return (tiles + 15) / 16 * 16; };
  if (rows_of_band(1) > kMaxBandRows)
    return "kernel height extent (KH - 1) * dilation_h + 1 = " + std::to_string(rows_of_band(1)) + " > " +
           std::to_string(kMaxBandRows);
  if (window_bytes(padded(r.pmax), 1) > kWinogradWindowBudget)
    return "C * KD * ((KH - 1) * dilation_h + 1) = " + std::to_string(r.channels * g.kernel[0] * rows_of_band(1)) +
           " input rows too large for a window of " + std::to_string(r.pmax) + " tiles in " +
           std::to_string(kWinogradWindowBudget / 1024) + " KiB";
  // Transformed weights per block of OCB output channels; as many blocks at once as the budget
  // allows (the window is then transformed again for each chunk).
  const std::int64_t block_weight_bytes = 4 * r.channels * r.kernel_rows * r.ocb * std::int64_t(sizeof(float));
  if (block_weight_bytes > kWinogradWeightsBudget)
    return "transformed weights of " + std::to_string(block_weight_bytes / 1024) + " KiB per " +
           std::to_string(r.ocb) + " output channels > " + std::to_string(kWinogradWeightsBudget / 1024) + " KiB";
  r.k_chunk = std::min(r.k_blocks, kWinogradWeightsBudget / block_weight_bytes);
  std::int64_t calls = std::min(kMaxCallsPerBlock, ceil_div(r.tiles_per_row, r.pmax));
  while (calls > 1 && window_bytes(padded(calls * r.pmax), 1) > kWinogradWindowBudget) --calls;
  r.tiles_per_block = calls * r.pmax;
  r.blocks_per_row = ceil_div(r.tiles_per_row, r.tiles_per_block);
  r.flat = g.stride[1] == 1 && r.blocks_per_row == 1 && r.tiles_per_row % r.pmax != 0;
  r.row_stride = r.flat ? r.tiles_per_row : padded(r.tiles_per_block);
  r.band_max = 1;
  while (r.band_max < std::min(kMaxBand, g.out[1]) && rows_of_band(r.band_max + 1) <= kMaxBandRows &&
         window_bytes(r.row_stride, r.band_max + 1) <= kWinogradWindowBudget)
    ++r.band_max;
  r.band_rows = rows_of_band(r.band_max);
  r.channel_stride = g.kernel[0] * r.band_rows * r.row_stride;
  r.e_stride = r.channels * r.channel_stride + 16;
  r.product_stride = padded(r.pmax);
  r.weights_bytes = round_up(std::size_t(r.k_chunk * block_weight_bytes));
  r.offsets_bytes = round_up(std::size_t(r.kernel_rows) * sizeof(std::int64_t));
  r.bias_bytes = round_up(std::size_t(r.k_blocks * r.ocb) * sizeof(float));
  r.limits_bytes = round_up(std::size_t(r.k_blocks) * sizeof(float));
  r.shared_bytes = r.weights_bytes + r.offsets_bytes + r.bias_bytes + r.limits_bytes;
  r.window_bytes = round_up(std::size_t(window_bytes(r.row_stride, r.band_max)));
  // Products: 4 x OCB rows, and 16 floats more for the reads of a call's last row segment.
  r.slot_bytes = r.window_bytes + round_up(std::size_t(4 * r.ocb * r.product_stride + 16) * sizeof(float));
  return {};
}

// The largest input magnitude |d| a window may hold for block kb's products, sums and output
// transform to stay below FLT_MAX / 2 (so below overflow wherever the direct sum is): with
// |V| <= 2 max |d| and |U| <= 1.5 max |g|, each M_e sums R = C * KD * KH products and an output
// adds three M_e, so |y| <= 9 R max |g| max |d|. Never above 1e38 (< FLT_MAX / 2), so that the
// input transform's sums of two values stay finite whatever the weights (all zero: the direct
// sum is 0, 0 * inf would be NaN). Windows above it (huge finite inputs) go to the exact
// fallback; every window does when a weight is not finite (the limit is then negative).
float input_limit(const Setup& s, bool weights_finite, float largest_weight) {
  if (!weights_finite) return -1.0f;
  const double bound = 9.0 * double(s.channels * s.kernel_rows) * double(largest_weight);
  const double limit = bound == 0.0 ? 1e38 : double(std::numeric_limits<float>::max()) / 2.0 / bound;
  return float(std::min(limit, 1e38));
}

// U of the OCB output channels of block kb: [e][channel][kernel row][OCB], zero past K. Returns
// the block's input_limit (negative when a weight read is not finite).
//
// Per group of channels, the block's filters are first transposed into t[channel][row][kw][OCB]
// (the ISA's implicit-GEMM weight packing, on as many consecutive floats per filter as the layout
// has: a group's channels, one channel's kernel rows, or element by element), then combined along
// OCB-long rows.
float transform_weights(const ConvGeometry& g, const Setup& s, const View5<float>& weight, std::int64_t kb,
                        float* u) {
  constexpr std::int64_t kTempFloats = 6144;
  const std::int64_t ocb = s.ocb, kh_count = g.kernel[1], row_floats = s.kernel_rows * 3;  // per channel
  const auto& ws = weight.strides;
  const std::int64_t e_stride = s.channels * s.kernel_rows * ocb;
  const std::int64_t filters = std::min(ocb, g.out_channels - kb * ocb);
  const float* first_filter = weight.data + kb * ocb * ws[0];
  const bool rows_consecutive = ws[4] == 1 && ws[3] == 3 && (g.kernel[0] == 1 || ws[2] == 3 * kh_count);
  const bool channels_consecutive = rows_consecutive && ws[1] == row_floats;
  // Channels per group (whole 16-float columns for the packing when 16 or more), and kernel rows
  // per group when one channel's rows exceed the temporary.
  std::int64_t group = std::clamp<std::int64_t>(kTempFloats / (row_floats * ocb), 1, s.channels);
  if (group >= 16) group = group / 16 * 16;
  const std::int64_t rows_per_group = std::min(s.kernel_rows, kTempFloats / (3 * ocb));
  alignas(64) static thread_local float t[kTempFloats];  // (thread_local: 24 KiB off the stack)
  alignas(64) float check[2 * kWinogradCheckLanes] = {};  // sums and magnitudes (WinogradWeightsFn)
  if (filters < ocb) std::fill_n(t, kTempFloats, 0.0f);  // lanes past K stay zero (never packed)
  for (std::int64_t c0 = 0; c0 < s.channels; c0 += group) {
    const std::int64_t channels = std::min(group, s.channels - c0);
    for (std::int64_t row0 = 0; row0 < s.kernel_rows; row0 += rows_per_group) {
      const std::int64_t rows = std::min(rows_per_group, s.kernel_rows - row0);  // all rows when group > 1
      if (channels_consecutive && channels > 1) {
        s.kernel->pack(first_filter + c0 * ws[1], ws[0], filters, channels * row_floats, t, ocb);
      } else {
        for (std::int64_t c = c0; c < c0 + channels; ++c) {
          float* tc = t + (c - c0) * rows * 3 * ocb;
          const float* w = first_filter + c * ws[1];
          if (rows_consecutive) {
            s.kernel->pack(w + row0 * 3, ws[0], filters, rows * 3, tc, ocb);
            continue;
          }
          for (std::int64_t r = 0; r < rows; ++r) {
            const std::int64_t row = row0 + r;
            const float* from = w + (row / kh_count) * ws[2] + (row % kh_count) * ws[3];
            for (std::int64_t kw = 0; kw < 3; ++kw)
              for (std::int64_t j = 0; j < filters; ++j) tc[(r * 3 + kw) * ocb + j] = from[j * ws[0] + kw * ws[4]];
          }
        }
      }
      // t holds (channel, row) pairs in U's order when the group has all rows or one channel.
      s.transforms->weights(t, channels * rows, ocb, u + (c0 * s.kernel_rows + row0) * ocb, e_stride, check);
    }
  }
  const CheckLanes lanes = reduce_check(check);
  return input_limit(s, lanes.finite, lanes.largest);
}

// One window's part of the problem: tiles [t0, t0 + count) of the `rows` output rows from oh0 of
// image n, output plane od.
struct WindowItem {
  std::int64_t n = 0, od = 0, oh0 = 0, rows = 0, t0 = 0, count = 0;
};

// How many bands the `rows` output rows of each plane are cut into: as few as the window allows
// (each input row is transformed once per band and weight chunk), but with several threads and
// all weights at once, at least 2 items per thread where there are rows, and if it costs at most
// twice the bands, an item count the threads divide (equal bands under the dynamic schedule: a
// 56-row plane in 5 bands left one of 2 threads 30 rows of work and the other 26). With weight
// chunks, few windows are split by output-channel blocks instead (run_forward).
std::int64_t band_count(std::int64_t rows, std::int64_t band_max, std::int64_t planes, int threads, bool chunked) {
  std::int64_t bands = ceil_div(rows, band_max);
  if (threads == 1 || chunked) return bands;
  bands = std::min(rows, std::max(bands, ceil_div(2 * threads, planes)));
  for (std::int64_t b = bands; b <= std::min(rows, 2 * bands); ++b)
    if (planes * b % threads == 0) return b;
  return bands;
}

// Item `item` of the windows: row blocks fastest, then `bands` bands of output rows (balanced:
// their heights differ by at most one), planes, images.
WindowItem window_item_at(const ConvGeometry& g, const Setup& s, std::int64_t bands, std::int64_t item) {
  WindowItem w;
  const std::int64_t block = item % s.blocks_per_row, rest = item / s.blocks_per_row;
  const std::int64_t b = rest % bands;
  w.oh0 = b * g.out[1] / bands;
  w.od = rest / bands % g.out[0];
  w.n = rest / (bands * g.out[0]);
  w.rows = (b + 1) * g.out[1] / bands - w.oh0;
  w.t0 = block * s.tiles_per_block;
  w.count = std::min(s.tiles_per_block, s.tiles_per_row - w.t0);
  return w;
}

// Calls f(window row offset, input row or null for padding) for every window row of item w that
// an output row reads: V_e[channel][kd][input row oh0 * stride_h - pad_h + r][tile], r <
// band_rows. Rows that no output row reads (strides above the kernel's extent) are skipped.
template <typename F>
void for_each_window_row(const ConvGeometry& g, const Setup& s, const View5<float>& src, const WindowItem& w, F&& f) {
  std::uint64_t used = 0;  // bit r: band row r is read
  for (std::int64_t i = 0; i < w.rows; ++i)
    for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh) used |= std::uint64_t(1) << (i * g.stride[1] + kh * g.dilation[1]);
  const std::int64_t rows = (w.rows - 1) * g.stride[1] + (g.kernel[1] - 1) * g.dilation[1] + 1;
  for (std::int64_t c = 0; c < s.channels; ++c)
    for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const std::int64_t id = w.od * g.stride[0] + kd * g.dilation[0] - g.pad_begin[0];
      for (std::int64_t r = 0; r < rows; ++r) {
        if ((used >> r & 1) == 0) continue;
        const std::int64_t offset = c * s.channel_stride + (kd * s.band_rows + r) * s.row_stride;
        const std::int64_t ih = w.oh0 * g.stride[1] - g.pad_begin[1] + r;
        const bool inside = id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1];
        f(offset, inside ? src.plane(w.n, c) + id * src.strides[2] + ih * src.strides[3] : nullptr);
      }
    }
}

// The window of item w. Returns the largest |input| it read, or Inf when one is not finite.
float fill_window(const ConvGeometry& g, const Setup& s, const View5<float>& src, const WindowItem& w, float* window) {
  const ProfileScope scope(Phase::transforms);
  const std::int64_t x0 = 2 * w.t0 - g.pad_begin[2];  // tile t0's first input column
  alignas(64) float check[2 * kWinogradCheckLanes] = {};
  for_each_window_row(g, s, src, w, [&](std::int64_t offset, const float* in) {
    float* v = window + offset;
    if (in == nullptr) {
      for (std::int64_t e = 0; e < 4; ++e) std::fill_n(v + e * s.e_stride, w.count, 0.0f);
    } else {
      s.transforms->input_row(in, src.strides[4], x0, g.in[2], w.count, v, s.e_stride, check);
    }
  });
  const CheckLanes lanes = reduce_check(check);
  return lanes.finite ? lanes.largest : std::numeric_limits<float>::infinity();
}

// Prefetches the input item w's window reads (issued one item ahead: the rows are short strided
// segments that the hardware prefetchers do not follow).
void prefetch_window(const ConvGeometry& g, const Setup& s, const View5<float>& src, const WindowItem& w) {
  const std::int64_t first = std::max<std::int64_t>(0, 2 * w.t0 - g.pad_begin[2]);
  const std::int64_t end = std::min(g.in[2], 2 * (w.t0 + w.count) - g.pad_begin[2] + 2);
  if (end <= first) return;
  const std::int64_t step = src.strides[4];
  for_each_window_row(g, s, src, w, [&](std::int64_t, const float* in) {
    if (in == nullptr) return;
    if (step == 1) {
      for (std::int64_t x = first; x < end; x += 16) __builtin_prefetch(in + x);
      __builtin_prefetch(in + end - 1);
    } else {
      for (std::int64_t x = first; x < end; ++x) __builtin_prefetch(in + x * step);
    }
  });
}

// The transformed weights made once per plan (WinogradEngine::pack_weights_typed).
struct WinogradPackedWeights final : PackedWeights {
  std::vector<float> u;
  std::vector<float> limits;  // per block of OCB output channels: input_limit
};

// Output-channel blocks [kb_begin, kb_end) of window item w, whose window is built: per block,
// the four product sums as kernel calls over the window, then the output transform. Calls cover
// `span` consecutive tiles of a line of the window: every row's tiles at once when flat (calls
// then span rows), else one output row at a time. `offsets` are the kernel rows' window offsets,
// `bias` the OCB-padded bias or null, `block_weights(kb)` block kb's U.
template <typename BlockWeights>
void compute_window(const ConvGeometry& g, const Setup& s, const ConvOperands<float>& x, const WindowItem& w,
                    const float* window, float* products, const std::int64_t* offsets, const float* bias,
                    std::int64_t kb_begin, std::int64_t kb_end, BlockWeights&& block_weights) {
  const auto& ds = x.dst.strides;
  const std::int64_t e_weights = s.channels * s.kernel_rows * s.ocb;  // floats of one U_e of a block
  const std::int64_t e_products = s.ocb * s.product_stride;
  const std::int64_t lines = s.flat ? 1 : w.rows, span = s.flat ? w.rows * w.count : w.count;
  for (std::int64_t line = 0; line < lines; ++line) {
    const float* line_window = window + line * g.stride[1] * s.row_stride;
    for (std::int64_t kb = kb_begin; kb < kb_end; ++kb)
      for (std::int64_t first = 0; first < span; first += s.pmax) {
        const std::int64_t pixels = std::min(s.pmax, span - first);
        {
          const ProfileScope scope(Phase::microkernel);
          const IgemmKernelFn kernel = s.kernel->get(int(pixels));
          for (std::int64_t e = 0; e < 4; ++e) {
            IgemmArgs args;
            args.window = line_window + e * s.e_stride + first;
            args.window_channel_stride = s.channel_stride;
            args.tap_offsets = offsets;
            args.taps = s.kernel_rows;
            args.channels = s.channels;
            args.weights = block_weights(kb) + e * e_weights;
            args.dst = products + e * e_products;
            args.dst_pixel_stride = 1;
            args.dst_channel_stride = s.product_stride;
            args.out_channels = s.ocb;
            kernel(args);
          }
        }
        // Output transform, one row segment at a time (tile p of the line: row p / count).
        const ProfileScope scope(Phase::epilogue);
        for (std::int64_t p = first; p < first + pixels;) {
          const std::int64_t row = line + p / w.count, tile = p % w.count;
          const std::int64_t length = std::min(first + pixels - p, w.count - tile);
          const std::int64_t column = 2 * (w.t0 + tile);
          float* out = x.dst.data + w.n * ds[0] + kb * s.ocb * ds[1] + w.od * ds[2] + (w.oh0 + row) * ds[3] +
                       column * ds[4];
          s.transforms->output(products + (p - first), e_products, s.product_stride,
                               std::min(s.ocb, g.out_channels - kb * s.ocb), length,
                               std::min(2 * length, g.out[2] - column),
                               bias != nullptr ? bias + kb * s.ocb : nullptr, out, ds[1], ds[4]);
          p += length;
        }
      }
  }
}

// The forward convolution. Returns false, having written any part of dst, when the operands
// need the exact fallback: a value is not finite, or an input so large that the transformed
// products could overflow where the direct sum does not (input_limit).
bool run_forward(const ConvGeometry& g, const Setup& s, const ConvOperands<float>& x,
                 const WinogradPackedWeights* packed, void* workspace, int thread_budget) {
  auto* shared = static_cast<std::byte*>(workspace);
  const std::int64_t block_floats = 4 * s.channels * s.kernel_rows * s.ocb;  // U of one block of OCB channels
  // Weights transformed once per plan (all blocks at once), or per chunk of k_chunk blocks here.
  float* chunk_weights = reinterpret_cast<float*>(shared);
  const std::int64_t k_chunk = packed != nullptr ? s.k_blocks : s.k_chunk;
  auto* offsets = reinterpret_cast<std::int64_t*>(shared + s.weights_bytes);
  for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd)
    for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
      offsets[kd * g.kernel[1] + kh] = (kd * s.band_rows + kh * g.dilation[1]) * s.row_stride;
  float* bias = nullptr;  // contiguous, OCB-padded copy of the bias, or null
  if (x.bias.data != nullptr) {
    bias = reinterpret_cast<float*>(shared + s.weights_bytes + s.offsets_bytes);
    for (std::int64_t k = 0; k < s.k_blocks * s.ocb; ++k) bias[k] = k < g.out_channels ? x.bias[k] : 0.0f;
  }
  // Per block, the largest |input| its products may take (input_limit).
  float* limits = packed != nullptr ? nullptr
                                    : reinterpret_cast<float*>(shared + s.weights_bytes + s.offsets_bytes + s.bias_bytes);
  const float* block_limits = packed != nullptr ? packed->limits.data() : limits;

  const int threads = threads_for_work(g.multiply_adds(), thread_budget);
  const std::int64_t planes = g.batch * g.out[0] * s.blocks_per_row;
  const std::int64_t bands = band_count(g.out[1], s.band_max, planes, threads, k_chunk < s.k_blocks);
  const std::int64_t items = planes * bands;
  std::atomic<bool> needs_exact{false};
  std::byte* slots = shared + s.shared_bytes;
  parallel_team(threads, [&] {
    std::byte* slot = slots + std::size_t(thread_index()) * s.slot_bytes;
    float* window = reinterpret_cast<float*>(slot);
    float* products = reinterpret_cast<float*>(slot + s.window_bytes);
    std::int64_t window_item = -1;  // the item whose window the slot holds, or -1
    float window_largest = 0.0f;    // the largest |input| it read
    for (std::int64_t kb0 = 0; kb0 < s.k_blocks; kb0 += k_chunk) {
      const std::int64_t kb1 = std::min(s.k_blocks, kb0 + k_chunk);
      // U of block kb (kb0 <= kb < kb1).
      auto block_weights = [&](std::int64_t kb) -> const float* {
        return packed != nullptr ? packed->u.data() + kb * block_floats : chunk_weights + (kb - kb0) * block_floats;
      };
      if (packed == nullptr) {
#pragma omp for schedule(static)
        for (std::int64_t kb = kb0; kb < kb1; ++kb) {
          const ProfileScope scope(Phase::packing);
          limits[kb] = transform_weights(g, s, x.weight, kb, chunk_weights + (kb - kb0) * block_floats);
        }  // (barrier: every block of the chunk ready)
      }
      // Window `item` (the band and row block it covers) against output-channel blocks
      // [kb_begin, kb_end) of the chunk. A thread's window is kept while it stays the same item
      // (across chunks too).
      auto process = [&](std::int64_t item, std::int64_t kb_begin, std::int64_t kb_end) {
        const WindowItem w = window_item_at(g, s, bands, item);
        if (item != window_item) {
          window_item = -1;
          window_largest = fill_window(g, s, x.src, w, window);
          window_item = item;
          if (item + 1 < items) prefetch_window(g, s, x.src, window_item_at(g, s, bands, item + 1));
        }
        for (std::int64_t kb = kb_begin; kb < kb_end; ++kb) {
          if (!(window_largest <= block_limits[kb])) {  // (also when it is NaN or Inf)
            needs_exact.store(true, std::memory_order_relaxed);
            return;
          }
        }
        compute_window(g, s, x, w, window, products, offsets, bias, kb_begin, kb_end, block_weights);
      };
      const std::int64_t kc = kb1 - kb0;
      if (threads > 1 && items < 2 * threads && kc >= threads) {
        // Few windows (a small image with chunked weights): the threads split the chunk's blocks
        // instead, each on the blocks whose weights it transformed (the same static split), each
        // building the windows itself.
#pragma omp for schedule(static)
        for (std::int64_t index = 0; index < kc * items; ++index)
          if (!needs_exact.load(std::memory_order_relaxed))
            process(index % items, kb0 + index / items, kb0 + index / items + 1);
      } else {
#pragma omp for schedule(dynamic)  // a vCPU the host slows down then holds the call up less
        for (std::int64_t item = 0; item < items; ++item)
          if (!needs_exact.load(std::memory_order_relaxed)) process(item, kb0, kb1);
      }  // (barrier: the chunk's weights are no longer read)
    }
  });
  return !needs_exact.load();
}

class PreparedWinograd final : public TypedPreparedConv<PreparedWinograd, true> {
 public:
  static constexpr Engine kEngine = Engine::winograd;
  PreparedWinograd(const ConvProblem& problem, const Setup& setup)
      : TypedPreparedConv(problem), setup_(setup),
        fallback_(std::move(implicit_gemm_engine().prepare(problem).prepared)) {}

  // Its own workspace or the fallback's, the larger.
  std::size_t workspace_bytes() const override {
    return std::max(setup_.shared_bytes + setup_.slot_bytes * std::size_t(problem().max_threads),
                    fallback_->workspace_bytes());
  }
  std::string kernel_name() const override { return setup_.kernel->family_name() + " (Winograd F(2,3) along W)"; }

  std::unique_ptr<PackedWeights> pack_weights_typed(const View5<float>& weight) const {
    const Setup& s = setup_;
    auto packed = std::make_unique<WinogradPackedWeights>();
    const std::int64_t block_floats = 4 * s.channels * s.kernel_rows * s.ocb;
    packed->u.resize(std::size_t(s.k_blocks * block_floats));
    packed->limits.resize(std::size_t(s.k_blocks));
    for (std::int64_t kb = 0; kb < s.k_blocks; ++kb)
      packed->limits[std::size_t(kb)] = transform_weights(geometry(), s, weight, kb, packed->u.data() + kb * block_floats);
    return packed;
  }

  void run_typed(const ConvOperands<float>& x, void* workspace, int threads) const {
    const auto* packed = dynamic_cast<const WinogradPackedWeights*>(x.packed_weights);
    if (run_forward(geometry(), setup_, x, packed, workspace, threads)) return;
    // Operands that are not all finite, or huge: the whole problem through implicit_gemm, which
    // computes the direct sums and rewrites every output.
    ConvOperands<float> plain = x;
    plain.packed_weights = nullptr;  // winograd's packing means nothing to implicit_gemm
    fallback_->run(plain, workspace, threads);
  }

 private:
  Setup setup_;
  std::unique_ptr<PreparedConv> fallback_;
};

// Dilation d > 1 along W (stride 1): the output's columns in d phases; phase r (columns
// d * j + r) reads one phase of the input (columns d * m + rho) with the kernel undilated along
// W, i.e. a Winograd problem on views with d times the W strides. Padding that phase r does
// not reach crops its input view instead.
struct WPhase {
  ConvGeometry geometry;  // dilation_w 1
  std::int64_t src_first = 0, dst_first = 0;  // first input / output column of the views
};

// The phases of a problem with dilation_w > 1, or why it cannot be split so.
std::string w_phases(const ConvGeometry& g, std::vector<WPhase>* phases) {
  const std::int64_t d = g.dilation[2];
  if (g.kernel[2] != 3 || g.stride[2] != 1) return "kernel width 3 at stride 1 along W only";
  for (std::int64_t r = 0; r < std::min(d, g.out[2]); ++r) {
    WPhase phase{g, 0, r};
    ConvGeometry& h = phase.geometry;
    // Output column d * j + r reads input columns d * (j + base + kw) + rho.
    const std::int64_t q = r - g.pad_begin[2], base = floor_div(q, d), rho = q - base * d;
    h.dilation[2] = 1;
    h.out[2] = ceil_div(g.out[2] - r, d);
    const CroppedAxis in = crop_negative_padding(rho < g.in[2] ? ceil_div(g.in[2] - rho, d) : 0, h.out[2], 2, -base);
    if (in.in <= 0) return "dilation " + std::to_string(d) + " along W with padding beyond the input";
    h.in[2] = in.in;
    h.pad_begin[2] = in.pad_begin;
    h.pad_end[2] = in.pad_end;
    phase.src_first = rho + d * in.crop;
    if (phases != nullptr) phases->push_back(phase);
  }
  return {};
}

class PreparedWinogradPhases final : public TypedPreparedConv<PreparedWinogradPhases, true> {
 public:
  static constexpr Engine kEngine = Engine::winograd;
  PreparedWinogradPhases(const ConvProblem& problem, std::vector<WPhase> phases,
                         std::vector<std::unique_ptr<PreparedConv>> prepared)
      : TypedPreparedConv(problem), phases_(std::move(phases)), prepared_(std::move(prepared)) {}
  std::size_t workspace_bytes() const override {
    std::size_t bytes = 0;
    for (const auto& p : prepared_) bytes = std::max(bytes, p->workspace_bytes());
    return bytes;
  }
  std::string kernel_name() const override {
    return prepared_.front()->kernel_name() + " in " + std::to_string(phases_.size()) + " column phases";
  }
  // The phases share the kernel: one transform of the weights serves them all.
  std::unique_ptr<PackedWeights> pack_weights_typed(const View5<float>& weight) const {
    return prepared_.front()->pack_weights(weight);
  }
  void run_typed(const ConvOperands<float>& x, void* workspace, int threads) const {
    const std::int64_t d = geometry().dilation[2];
    for (std::size_t i = 0; i < phases_.size(); ++i) {
      const WPhase& phase = phases_[i];
      ConvOperands<float> y = x;
      y.src.data += phase.src_first * x.src.strides[4];
      y.src.strides[4] *= d;
      y.src.shape[4] = phase.geometry.in[2];
      y.dst.data += phase.dst_first * x.dst.strides[4];
      y.dst.strides[4] *= d;
      y.dst.shape[4] = phase.geometry.out[2];
      prepared_[i]->run(y, workspace, threads);
    }
  }

 private:
  std::vector<WPhase> phases_;
  std::vector<std::unique_ptr<PreparedConv>> prepared_;
};

class WinogradEngine final : public ConvEngine {
 public:
  Engine id() const override { return Engine::winograd; }
  Preparation prepare(const ConvProblem& problem) const override {
    if (std::string op = decline_unless_convolution(problem); !op.empty()) return Preparation::decline(std::move(op));
    if (problem.geometry.dilation[2] > 1 && problem.direction == Direction::forward &&
        problem.dtype == DType::float32) {
      std::vector<WPhase> phases;
      if (std::string reason = w_phases(problem.geometry, &phases); !reason.empty())
        return Preparation::decline(std::move(reason));
      std::vector<std::unique_ptr<PreparedConv>> prepared;
      for (const WPhase& phase : phases) {
        ConvProblem sub = problem;
        sub.geometry = phase.geometry;
        Preparation preparation = prepare(sub);
        if (!preparation.prepared) return Preparation::decline("column phase: " + preparation.decline_reason);
        prepared.push_back(std::move(preparation.prepared));
      }
      return Preparation::take(std::make_unique<PreparedWinogradPhases>(problem, std::move(phases), std::move(prepared)));
    }
    Setup s;
    if (std::string reason = check(problem.direction, problem.geometry, problem.dtype, &s); !reason.empty())
      return Preparation::decline(std::move(reason));
    return Preparation::take(std::make_unique<PreparedWinograd>(problem, s));
  }
};

}  // namespace

const ConvEngine& winograd_engine() {
  static const WinogradEngine engine;
  return engine;
}

}  // namespace fastconv::detail
