// depthwise_engine.cpp — see depthwise_engine.hpp.
#include "engines/depthwise/depthwise_engine.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/int_division.hpp"
#include "core/parallel.hpp"
#include "core/profile.hpp"
#include "engines/bias.hpp"
#include "kernels/depthwise/depthwise_kernels.hpp"
#include "engines/depthwise/depthwise_plane_forward.hpp"
#include "engines/depthwise/depthwise_rows.hpp"
#include "engines/direct_op/plane_op_forward.hpp"

namespace fastconv::detail {
namespace {

// Elements of one output (forward) or input (backward_data) row computed at a time.
constexpr std::int64_t kRowChunk = 256;

// Output positions o in [begin, end) whose input position o * stride + offset is in [lo, hi).
struct Range {
  std::int64_t begin = 0, end = 0;
};

Range outputs_reading(std::int64_t out_size, std::int64_t stride, std::int64_t offset,
                      std::int64_t lo, std::int64_t hi) {
  const std::int64_t begin = std::clamp<std::int64_t>(ceil_div(lo - offset, stride), 0, out_size);
  const std::int64_t end = std::min(out_size, ceil_div(hi - offset, stride));
  return {begin, std::max(begin, end)};
}

// Input offset of kernel tap `t` on `axis`: input = output * stride + offset.
std::int64_t tap_offset(const ConvGeometry& g, int axis, std::int64_t t) {
  return t * g.dilation[axis] - g.pad_begin[axis];
}

// Per kernel-width tap, the output columns that read inside the image (whole row).
std::vector<Range> width_ranges(const ConvGeometry& g) {
  std::vector<Range> ranges(std::size_t(g.kernel[2]));
  for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw)
    ranges[std::size_t(kw)] = outputs_reading(g.out[2], g.stride[2], tap_offset(g, 2, kw), 0, g.in[2]);
  return ranges;
}

// ---- forward ------------------------------------------------------------------------------------

// Output columns where every tap of a kernel row reads inside the image.
Range interior_of(const std::vector<Range>& w_ranges) {
  Range interior{0, std::numeric_limits<std::int64_t>::max()};
  for (const Range& r : w_ranges) interior = {std::max(interior.begin, r.begin), std::min(interior.end, r.end)};
  if (interior.end < interior.begin) interior.end = interior.begin;
  return interior;
}

// Fused kernel rows: kernel width 3 or 5, stride 1 or 2 (the common depthwise layers), up to
// kFusedRows kernel rows per pass over an output row.
constexpr int kFusedRows = kDepthwiseMaxRows;
constexpr std::int64_t kMaxFusedTaps = 128;  // weights of one filter kept on the stack

template <typename T>
bool filter_is_finite(const ConvGeometry& g, const View5<T>& weight, std::int64_t k) {
  bool finite = true;
  for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd)
    for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
      for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw) finite &= std::isfinite(weight.at(k, 0, kd, kh, kw));
  return finite;
}

// The taps of `rows` kernel rows (source rows src[r] with unit step, weights w[r][kw], all
// finite) over output columns [o0, o1): columns where some tap falls in the padding one by one,
// the rest in fused passes of up to kFusedRows rows; every column adds in (row, kw) order.
template <typename T>
void fused_kernel_rows(const ConvGeometry& g, const DepthwiseRowsKernels<T>& kernels,
                       const Range& interior, T* acc, std::int64_t o0, std::int64_t o1, const T* const* src,
                       const T* const* w, int rows) {
  const std::int64_t kernel_w = g.kernel[2], sw = g.stride[2];
  Range inner{std::max(interior.begin, o0), std::min(interior.end, o1)};
  if (inner.end <= inner.begin) inner = {o1, o1};
  // Undilated: column o's taps kw in [lo, hi) read inside the image, at first + kw.
  auto edge = [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t o = begin; o < end; ++o) {
      const std::int64_t first = o * sw + tap_offset(g, 2, 0);
      const std::int64_t lo = std::max<std::int64_t>(0, -first);
      const std::int64_t hi = std::min(kernel_w, g.in[2] - first);
      T sum = acc[o - o0];
      for (int r = 0; r < rows; ++r)
        for (std::int64_t kw = lo; kw < hi; ++kw) sum += w[r][kw] * src[r][first + kw];
      acc[o - o0] = sum;
    }
  };
  edge(o0, inner.begin);
  edge(inner.end, o1);
  const std::int64_t count = inner.end - inner.begin;
  if (count <= 0) return;
  T* a = acc + (inner.begin - o0);
  const T* shifted[kFusedRows];
  for (int r0 = 0; r0 < rows; r0 += kFusedRows) {
    const int batch = std::min(kFusedRows, rows - r0);
    for (int r = 0; r < batch; ++r) shifted[r] = src[r0 + r] + inner.begin * sw + tap_offset(g, 2, 0);
    kernels.get(batch, kernel_w, sw)(a, shifted, w + r0, count);
  }
}

template <typename T>
void forward_channel(const ConvGeometry& g, const ConvOperands<T>& x,
                     const DepthwiseRowsKernels<T>& kernels, const std::vector<Range>& w_ranges,
                     const Range& interior, std::int64_t n, std::int64_t k) {
  const std::int64_t c = k / g.out_channels_per_group();
  const T* src = x.src.plane(n, c);
  T* dst = x.dst.plane(n, k);
  const auto& ss = x.src.strides;
  const auto& ds = x.dst.strides;
  const T bias = x.bias.data ? x.bias[k] : T(0);
  const std::int64_t out_w = g.out[2], sw = g.stride[2], kernel_w = g.kernel[2];
  const std::int64_t src_step = sw * ss[4];
  // With finite weights, padded taps add exactly nothing; otherwise they add NaN (0 * w).
  const bool finite = filter_is_finite(g, x.weight, k);
  const bool fused = finite && ss[4] == 1 && g.dilation[2] == 1 &&
                     depthwise_rows_supported(kernel_w, sw) && g.kernel_volume() <= kMaxFusedTaps;
  alignas(64) T chunk[kRowChunk];
  // Fused path: the filter's weights, and per output row the kernel rows inside the image.
  T weights[kMaxFusedTaps];
  const T* row_src[kMaxFusedTaps / 3];
  const T* row_weights[kMaxFusedTaps / 3];
  if (fused) {
    std::int64_t i = 0;
    for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd)
      for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
        for (std::int64_t kw = 0; kw < kernel_w; ++kw) weights[i++] = x.weight.at(k, 0, kd, kh, kw);
  }
  for (std::int64_t od = 0; od < g.out[0]; ++od)
  for (std::int64_t oh = 0; oh < g.out[1]; ++oh)
  for (std::int64_t o0 = 0; o0 < out_w; o0 += kRowChunk) {
    const std::int64_t o1 = std::min(out_w, o0 + kRowChunk), count = o1 - o0;
    // Unit-step output rows are accumulated in place; others in the stack chunk.
    T* dst_chunk = dst + od * ds[2] + oh * ds[3] + o0 * ds[4];
    T* acc = ds[4] == 1 ? dst_chunk : chunk;
    std::fill(acc, acc + count, bias);
    int rows = 0;
    for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const std::int64_t id = od * g.stride[0] + tap_offset(g, 0, kd);
      const bool d_inside = id >= 0 && id < g.in[0];
      for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh) {
        const std::int64_t ih = oh * g.stride[1] + tap_offset(g, 1, kh);
        const bool row_inside = d_inside && ih >= 0 && ih < g.in[1];
        if (finite && !row_inside) continue;
        const T* src_row = row_inside ? src + id * ss[2] + ih * ss[3] : nullptr;
        if (fused) {
          row_src[rows] = src_row;
          row_weights[rows++] = weights + (kd * g.kernel[1] + kh) * kernel_w;
          continue;
        }
        for (std::int64_t kw = 0; kw < kernel_w; ++kw) {
          const T weight = x.weight.at(k, 0, kd, kh, kw);
          Range r{o0, o0};
          if (row_inside) {
            const Range& full = w_ranges[std::size_t(kw)];
            r = {std::max(full.begin, o0), std::min(full.end, o1)};
            if (r.end > r.begin) {
              const T* first = src_row + (r.begin * sw + tap_offset(g, 2, kw)) * ss[4];
              multiply_accumulate_row(acc + (r.begin - o0), first, src_step, weight, r.end - r.begin);
            } else {
              r = {o0, o0};
            }
          }
          // Padded taps: 0 * weight, which only changes the sum when the weight is not finite.
          if (!finite && !std::isfinite(weight)) {
            for (std::int64_t o = o0; o < o1; ++o)
              if (o < r.begin || o >= r.end) acc[o - o0] += weight * T(0);
          }
        }
      }
    }
    if (rows > 0) fused_kernel_rows(g, kernels, interior, acc, o0, o1, row_src, row_weights, rows);
    if (acc == chunk) store_row(dst_chunk, ds[4], chunk, count);
  }
}

template <typename T>
void forward(const ConvGeometry& g, const PlanePlan& plan, const ConvOperands<T>& x,
             std::byte* workspace, int threads) {
  if (plan.fits()) {
    depthwise_plane_forward(g, plan, x, workspace, threads);
    return;
  }
  const std::vector<Range> w_ranges = width_ranges(g);
  const Range interior = interior_of(w_ranges);
  const DepthwiseRowsKernels<T>& kernels = active_depthwise_rows_kernels<T>();
  parallel_team(threads_for_work(g.multiply_adds(), threads), [&] {
#pragma omp for collapse(2) schedule(static)
    for (std::int64_t n = 0; n < g.batch; ++n)
      for (std::int64_t k = 0; k < g.out_channels; ++k) {
        const ProfileScope scope(Phase::microkernel);
        forward_channel(g, x, kernels, w_ranges, interior, n, k);
      }
  });
}

// ---- backward_data (transposed convolution) -----------------------------------------------------

// Output position on `axis` whose tap `t` reads input position `i`, or -1 when none does.
std::int64_t output_reading(const ConvGeometry& g, int axis, std::int64_t i, std::int64_t t) {
  const std::int64_t scaled = i - tap_offset(g, axis, t);
  if (scaled < 0 || scaled % g.stride[axis] != 0) return -1;
  const std::int64_t o = scaled / g.stride[axis];
  return o < g.out[axis] ? o : -1;
}

template <typename T>
void backward_data_channel(const ConvGeometry& g, const ConvOperands<T>& x,
                           const std::vector<Range>& w_ranges, std::int64_t n, std::int64_t c) {
  const std::int64_t kg = g.out_channels_per_group(), k_begin = c * kg;
  T* src = x.src.plane(n, c);
  const auto& ss = x.src.strides;
  const auto& ds = x.dst.strides;
  const T bias = x.bias.data ? x.bias[c] : T(0);
  const std::int64_t in_w = g.in[2], sw = g.stride[2];
  const bool one_chunk = in_w <= kRowChunk;
  alignas(64) T acc[kRowChunk];
  for (std::int64_t id = 0; id < g.in[0]; ++id)
  for (std::int64_t ih = 0; ih < g.in[1]; ++ih)
  for (std::int64_t i0 = 0; i0 < in_w; i0 += kRowChunk) {
    const std::int64_t i1 = std::min(in_w, i0 + kRowChunk), count = i1 - i0;
    std::fill(acc, acc + count, bias);
    for (std::int64_t k = k_begin; k < k_begin + kg; ++k) {
      const T* dst = x.dst.plane(n, k);
      for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd) {
        const std::int64_t od = output_reading(g, 0, id, kd);
        if (od < 0) continue;
        for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh) {
          const std::int64_t oh = output_reading(g, 1, ih, kh);
          if (oh < 0) continue;
          const T* dst_row = dst + od * ds[2] + oh * ds[3];
          for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw) {
            const std::int64_t offset = tap_offset(g, 2, kw);
            const Range r = one_chunk ? w_ranges[std::size_t(kw)]
                                      : outputs_reading(g.out[2], sw, offset, i0, i1);
            if (r.end <= r.begin) continue;
            scatter_accumulate_row(acc + (r.begin * sw + offset - i0), sw, dst_row + r.begin * ds[4],
                                   ds[4], x.weight.at(k, 0, kd, kh, kw), r.end - r.begin);
          }
        }
      }
    }
    store_row(src + id * ss[2] + ih * ss[3] + i0 * ss[4], ss[4], acc, count);
  }
}

template <typename T>
void backward_data(const ConvGeometry& g, const ConvOperands<T>& x, int threads) {
  const std::vector<Range> w_ranges = width_ranges(g);
  parallel_team(threads_for_work(g.multiply_adds(), threads), [&] {
#pragma omp for collapse(2) schedule(static)
    for (std::int64_t n = 0; n < g.batch; ++n)
      for (std::int64_t c = 0; c < g.in_channels; ++c) {
        const ProfileScope scope(Phase::microkernel);
        backward_data_channel(g, x, w_ranges, n, c);
      }
  });
}

// ---- backward_weights ---------------------------------------------------------------------------

// One weight-gradient element: sum over images and output positions of src * diff_dst, with
// padded src positions as zeros (a non-finite diff_dst there makes the result NaN).
template <typename T>
T weight_gradient(const ConvGeometry& g, const ConvOperands<T>& x, const Range& w_range,
                  std::int64_t k, std::int64_t c, std::int64_t kd, std::int64_t kh, std::int64_t kw) {
  const auto& ss = x.src.strides;
  const auto& ds = x.dst.strides;
  const std::int64_t out_w = g.out[2];
  const std::int64_t src_step = g.stride[2] * ss[4];
  T sum = T(0);
  bool padding_meets_non_finite = false;
  for (std::int64_t n = 0; n < g.batch; ++n) {
    const T* src = x.src.plane(n, c);
    const T* dst = x.dst.plane(n, k);
    for (std::int64_t od = 0; od < g.out[0]; ++od) {
      const std::int64_t id = od * g.stride[0] + tap_offset(g, 0, kd);
      const bool d_inside = id >= 0 && id < g.in[0];
      for (std::int64_t oh = 0; oh < g.out[1]; ++oh) {
        const std::int64_t ih = oh * g.stride[1] + tap_offset(g, 1, kh);
        const T* dst_row = dst + od * ds[2] + oh * ds[3];
        if (!d_inside || ih < 0 || ih >= g.in[1]) {
          padding_meets_non_finite |= any_non_finite(dst_row, ds[4], 0, out_w);
          continue;
        }
        padding_meets_non_finite |= any_non_finite(dst_row, ds[4], 0, w_range.begin) ||
                                    any_non_finite(dst_row, ds[4], w_range.end, out_w);
        const T* src_first = src + id * ss[2] + ih * ss[3] +
                             (w_range.begin * g.stride[2] + tap_offset(g, 2, kw)) * ss[4];
        sum += dot_row(src_first, src_step, dst_row + w_range.begin * ds[4], ds[4],
                       w_range.end - w_range.begin);
      }
    }
  }
  return padding_meets_non_finite ? std::numeric_limits<T>::quiet_NaN() : sum;
}

template <typename T>
void backward_weights(const ConvGeometry& g, const ConvOperands<T>& x, int threads) {
  const std::vector<Range> w_ranges = width_ranges(g);
  const std::int64_t kg = g.out_channels_per_group();
  parallel_team(threads_for_work(g.multiply_adds(), threads), [&] {
#pragma omp for schedule(static)
    for (std::int64_t k = 0; k < g.out_channels; ++k) {
      const ProfileScope scope(Phase::microkernel);
      for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd)
        for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
          for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw)
            x.weight.at(k, 0, kd, kh, kw) =
                weight_gradient(g, x, w_ranges[std::size_t(kw)], k, k / kg, kd, kh, kw);
    }
  });
  write_bias_gradient(g, x);
}

// ---- the engine ---------------------------------------------------------------------------------

// Forward runs take the plane kernels' plan (made for the problem's dtype) and its per-thread
// slots; the backward directions are plain loops without workspace.
class PreparedDepthwise final : public TypedPreparedConv<PreparedDepthwise> {
 public:
  static constexpr Engine kEngine = Engine::depthwise;
  explicit PreparedDepthwise(const ConvProblem& problem)
      : TypedPreparedConv(problem),
        plan_(problem.direction == Direction::forward
                  ? make_plane_plan(problem.geometry, std::int64_t(dtype_size(problem.dtype)))
                  : PlanePlan{}) {}
  std::size_t workspace_bytes() const override {
    return plan_.fits() ? plan_.slot_bytes * std::size_t(problem().max_threads) : 0;
  }
  // The forward kernel families (named by ISA; depthwise_engine.hpp): plane kernels when a row
  // fits their buffers (the direct masked-load kernel on small contiguous "same"-width planes),
  // row kernels otherwise. The backward directions are plain loops.
  std::string kernel_name() const override {
    if (direction() != Direction::forward) return {};
    const std::string isa = isa_name(active_isa());
    return plan_.fits() ? "depthwise plane kernels__" + isa + " (direct kernel on small contiguous planes)"
                        : "depthwise row kernels__" + isa;
  }
  template <typename T>
  void run_typed(const ConvOperands<T>& operands, void* workspace, int threads) const {
    switch (direction()) {
      case Direction::forward:
        forward(geometry(), plan_, operands, static_cast<std::byte*>(workspace), threads);
        break;
      case Direction::backward_data: backward_data(geometry(), operands, threads); break;
      case Direction::backward_weights: backward_weights(geometry(), operands, threads); break;
    }
  }

 private:
  PlanePlan plan_;
};

class DepthwiseEngine final : public ConvEngine {
 public:
  Engine id() const override { return Engine::depthwise; }
  Preparation prepare(const ConvProblem& problem) const override {
    if (problem.geometry.in_channels_per_group() != 1)
      return Preparation::decline("not depthwise: C/groups = " +
                                  std::to_string(problem.geometry.in_channels_per_group()));
    if (!problem.convolution()) return prepare_plane_op<Engine::depthwise>(problem);
    return Preparation::take(std::make_unique<PreparedDepthwise>(problem));
  }
};

}  // namespace

const ConvEngine& depthwise_engine() {
  static const DepthwiseEngine engine;
  return engine;
}

}  // namespace fastconv::detail
