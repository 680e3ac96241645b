// depthwise_plane_forward.cpp — see depthwise_plane_forward.hpp.
#include "engines/depthwise/depthwise_plane_forward.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/aligned_buffer.hpp"
#include "core/parallel.hpp"
#include "core/profile.hpp"
#include "kernels/depthwise/depthwise_direct_kernels.hpp"
#include "kernels/depthwise/depthwise_plane_kernels.hpp"

namespace fastconv::detail {
namespace {

// One thread's slot: [polyphase buffer | accumulators | a gathered filter | depth-slice pointers].
template <typename T>
struct PlaneSlot {
  T* buffer;
  T* acc;
  T* weights;
  const T** slices;
};

std::size_t buffer_bytes(const PlanePlan& plan, std::int64_t element_bytes) {
  return align64(std::size_t(plan.buffer_elements + kPlaneSlack) * std::size_t(element_bytes));
}
std::size_t acc_bytes(const PlanePlan& plan, std::int64_t element_bytes) {
  return align64(std::size_t(plan.acc_elements + kPlaneSlack) * std::size_t(element_bytes));
}
std::size_t filter_bytes(const ConvGeometry& g, std::int64_t element_bytes) {
  return align64(std::size_t(g.kernel_volume() * element_bytes));
}

template <typename T>
PlaneSlot<T> plane_slot(const ConvGeometry& g, const PlanePlan& plan, std::byte* workspace) {
  std::byte* slot = workspace + std::size_t(thread_index()) * plan.slot_bytes;
  const std::size_t buffer = buffer_bytes(plan, sizeof(T)), acc = acc_bytes(plan, sizeof(T));
  return {reinterpret_cast<T*>(slot), reinterpret_cast<T*>(slot + buffer),
          reinterpret_cast<T*>(slot + buffer + acc),
          reinterpret_cast<const T**>(slot + buffer + acc + filter_bytes(g, sizeof(T)))};
}

}  // namespace

PlanePlan make_plane_plan(const ConvGeometry& g, std::int64_t element_bytes) {
  PlanePlan plan;
  const std::int64_t sh = g.stride[1], sw = g.stride[2];
  std::vector<std::int64_t> tap_slot, tap_shift_h, tap_shift_w;
  std::int64_t max_shift_h = 0, max_shift_w = 0;
  for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh) {
    for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw) {
      const std::int64_t rh = kh * g.dilation[1], rw = kw * g.dilation[2];
      std::size_t slot = 0;
      while (slot < plan.phase_row.size() &&
             (plan.phase_row[slot] != rh % sh || plan.phase_col[slot] != rw % sw))
        ++slot;
      if (slot == plan.phase_row.size()) {
        plan.phase_row.push_back(rh % sh);
        plan.phase_col.push_back(rw % sw);
      }
      tap_slot.push_back(std::int64_t(slot));
      tap_shift_h.push_back(rh / sh);
      tap_shift_w.push_back(rw / sw);
      max_shift_h = std::max(max_shift_h, rh / sh);
      max_shift_w = std::max(max_shift_w, rw / sw);
    }
  }
  const auto slots = std::int64_t(plan.phase_row.size());
  plan.pitch = g.out[2] + max_shift_w;
  const std::int64_t buffer_cap = kPlaneBufferBytes / element_bytes - kPlaneSlack;
  const std::int64_t acc_cap = kPlaneAccBytes / element_bytes - kPlaneSlack;
  std::int64_t band = std::min({g.out[1], buffer_cap / (slots * plan.pitch) - max_shift_h,
                                acc_cap / plan.pitch});
  if (band < 1) return plan;  // band_rows = 0: does not fit
  plan.bands = (g.out[1] + band - 1) / band;
  plan.band_rows = (g.out[1] + plan.bands - 1) / plan.bands;  // even bands
  plan.phase_rows = plan.band_rows + max_shift_h;
  for (std::size_t t = 0; t < tap_slot.size(); ++t)
    plan.tap_offsets.push_back(tap_slot[t] * plan.phase_rows * plan.pitch +
                               tap_shift_h[t] * plan.pitch + tap_shift_w[t]);
  plan.buffer_elements = slots * plan.phase_rows * plan.pitch;
  plan.acc_elements = plan.band_rows * plan.pitch;
  plan.slot_bytes = buffer_bytes(plan, element_bytes) + acc_bytes(plan, element_bytes) +
                    filter_bytes(g, element_bytes) + align64(std::size_t(g.kernel[0]) * sizeof(void*));
  return plan;
}

namespace {

template <typename T>
bool all_finite(const T* values, std::int64_t count) {
  bool finite = true;
  for (std::int64_t i = 0; i < count; ++i) finite &= std::isfinite(values[i]);
  return finite;
}

// Items [0, count) split into one contiguous range per thread of an OpenMP team.
struct ItemRange {
  std::int64_t begin = 0, end = 0;
};
ItemRange this_threads_items(std::int64_t count) {
  const std::int64_t thread = thread_index(), threads = team_size();
  return {count * thread / threads, count * (thread + 1) / threads};
}

// Item counter over (image, channel, output depth slice, band), innermost last.
struct ItemCursor {
  std::int64_t n = 0, c = 0, od = 0, band = 0;
  ItemCursor(std::int64_t item, const ConvGeometry& g, std::int64_t bands)
      : band(item % bands) {
    item /= bands;
    od = item % g.out[0];
    item /= g.out[0];
    c = item % g.groups;
    n = item / g.groups;
  }
  void next(const ConvGeometry& g, std::int64_t bands) {
    if (++band < bands) return;
    band = 0;
    if (++od < g.out[0]) return;
    od = 0;
    if (++c < g.groups) return;
    c = 0;
    ++n;
  }
};

// Filter k's weights in (kd, kh, kw) order: in place when the view stores them so, else in `out`.
template <typename T>
const T* gather_filter(const ConvGeometry& g, const View5<T>& weight, std::int64_t k, T* out) {
  const auto& ws = weight.strides;
  if ((g.kernel[2] == 1 || ws[4] == 1) && (g.kernel[1] == 1 || ws[3] == g.kernel[2]) &&
      (g.kernel[0] == 1 || ws[2] == g.kernel[1] * g.kernel[2]))
    return weight.plane(k, 0);
  const T* gathered = out;
  for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd)
    for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
      for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw) *out++ = weight.at(k, 0, kd, kh, kw);
  return gathered;
}

// ---- the direct kernel: small contiguous stride-1 planes with "same" width, no copy ----------

constexpr std::int64_t kDirectMaxCount = 4096;    // output elements of one plane
constexpr std::int64_t kDirectMaxMasks = 16384;   // blocks * taps

template <typename T>
bool direct_applies(const ConvGeometry& g, const ConvOperands<T>& x, int lanes) {
  if (lanes == 0) return false;
  const auto& ss = x.src.strides;
  const auto& ds = x.dst.strides;
  const std::int64_t count = g.out[1] * g.in[2];
  const std::int64_t blocks = (count + lanes - 1) / lanes;
  return g.stride[1] == 1 && g.stride[2] == 1 && g.out[2] == g.in[2] && g.pad_begin[0] == 0 &&
         g.pad_end[0] == 0 && ss[4] == 1 && ss[3] == g.in[2] && ds[4] == 1 && ds[3] == g.out[2] &&
         count <= kDirectMaxCount && blocks * g.kernel[1] * g.kernel[2] <= kDirectMaxMasks;
}

template <typename T>
void direct_forward(const ConvGeometry& g, const PlanePlan& plan, const ConvOperands<T>& x,
                    const DepthwiseDirectKernel<T>& kernel, const EpilogueParams<T>& epilogue,
                    std::byte* workspace, int threads) {
  const std::int64_t width = g.in[2], height = g.in[1], lanes = kernel.lanes;
  std::vector<std::int64_t> offsets;
  std::vector<std::uint16_t> masks;
  DirectLayout layout;
  layout.count = g.out[1] * width;
  layout.blocks = (layout.count + lanes - 1) / lanes;
  for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
    for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw)
      offsets.push_back((kh * g.dilation[1] - g.pad_begin[1]) * width + kw * g.dilation[2] - g.pad_begin[2]);
  layout.taps = int(offsets.size());
  layout.tap_offsets = offsets.data();
  // mask(block, kh, kw) = lanes whose tap row is inside & lanes whose tap column is inside.
  const std::int64_t kernel_h = g.kernel[1], kernel_w = g.kernel[2];
  std::vector<std::uint16_t> row_masks(static_cast<std::size_t>(kernel_h));
  std::vector<std::uint16_t> col_masks(static_cast<std::size_t>(kernel_w));
  std::int64_t oh = 0, ow = 0;  // position of the block's first lane
  for (std::int64_t block = 0; block < layout.blocks; ++block) {
    std::fill(row_masks.begin(), row_masks.end(), 0);
    std::fill(col_masks.begin(), col_masks.end(), 0);
    for (std::int64_t lane = 0; lane < lanes && block * lanes + lane < layout.count; ++lane) {
      for (std::int64_t kh = 0; kh < kernel_h; ++kh) {
        const std::int64_t ih = oh + kh * g.dilation[1] - g.pad_begin[1];
        if (ih >= 0 && ih < height) row_masks[std::size_t(kh)] |= std::uint16_t(1u << lane);
      }
      for (std::int64_t kw = 0; kw < kernel_w; ++kw) {
        const std::int64_t iw = ow + kw * g.dilation[2] - g.pad_begin[2];
        if (iw >= 0 && iw < width) col_masks[std::size_t(kw)] |= std::uint16_t(1u << lane);
      }
      if (++ow == width) ow = 0, ++oh;
    }
    for (std::int64_t kh = 0; kh < kernel_h; ++kh)
      for (std::int64_t kw = 0; kw < kernel_w; ++kw)
        masks.push_back(std::uint16_t(row_masks[std::size_t(kh)] & col_masks[std::size_t(kw)]));
  }
  layout.masks = masks.data();
  const auto& ss = x.src.strides;
  const auto& ds = x.dst.strides;
  const std::int64_t multiplier = g.out_channels_per_group();
  const std::int64_t items = g.batch * g.groups * g.out[0];
  parallel_team(threads_for_work(g.multiply_adds(), threads), [&] {
    const PlaneSlot<T> slot = plane_slot<T>(g, plan, workspace);
    const ItemRange range = this_threads_items(items);
    ItemCursor at(range.begin, g, 1);
    for (std::int64_t item = range.begin; item < range.end; ++item, at.next(g, 1)) {
      const T* src = x.src.plane(at.n, at.c);
      for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd)
        slot.slices[kd] = src + (at.od * g.stride[0] + kd * g.dilation[0]) * ss[2];
      for (std::int64_t k = at.c * multiplier; k < (at.c + 1) * multiplier; ++k) {
        const ProfileScope scope(Phase::microkernel);
        kernel.run(x.dst.plane(at.n, k) + at.od * ds[2], slot.slices, int(g.kernel[0]),
                   gather_filter(g, x.weight, k, slot.weights), layout, epilogue, k);
      }
    }
  });
}

}  // namespace

template <typename T>
void depthwise_plane_forward(const ConvGeometry& g, const PlanePlan& plan, const ConvOperands<T>& x,
                             std::byte* workspace, int threads) {
  std::vector<T> bias;
  if (x.bias.data)
    for (std::int64_t k = 0; k < g.out_channels; ++k) bias.push_back(x.bias[k]);
  EpilogueParams<T> epilogue;
  epilogue.bias = bias.empty() ? nullptr : bias.data();
  const DepthwiseDirectKernel<T>& direct = active_depthwise_direct_kernel<T>();
  if (direct_applies(g, x, direct.lanes)) {
    direct_forward(g, plan, x, direct, epilogue, workspace, threads);
    return;
  }

  const auto& ss = x.src.strides;
  const auto& ds = x.dst.strides;
  PlaneLayout layout;
  layout.in_h = g.in[1];
  layout.in_w = g.in[2];
  layout.pad_h = g.pad_begin[1];
  layout.pad_w = g.pad_begin[2];
  layout.stride_h = g.stride[1];
  layout.stride_w = g.stride[2];
  layout.src_row_step = ss[3];
  layout.src_col_step = ss[4];
  layout.pitch = plan.pitch;
  layout.phase_rows = plan.phase_rows;
  layout.phase_count = int(plan.phase_row.size());
  layout.phase_row = plan.phase_row.data();
  layout.phase_col = plan.phase_col.data();
  layout.taps = int(plan.tap_offsets.size());
  layout.tap_offsets = plan.tap_offsets.data();
  layout.out_w = g.out[2];
  layout.dst_row_step = ds[3];
  layout.dst_col_step = ds[4];

  const DepthwisePlaneKernels<T>& kernels = active_depthwise_plane_kernels<T>();
  const std::int64_t multiplier = g.out_channels_per_group();
  const std::int64_t slice_taps = g.kernel[1] * g.kernel[2];
  const std::int64_t items = g.batch * g.groups * g.out[0] * plan.bands;
  constexpr std::int64_t kNothing = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kZeros = -1;
  parallel_team(threads_for_work(g.multiply_adds(), threads), [&] {
    const PlaneSlot<T> slot = plane_slot<T>(g, plan, workspace);
    // Zeroed once per run: the columns that are always padding are never written (plane_fill).
    std::fill(slot.buffer, slot.buffer + plan.buffer_elements + kPlaneSlack, T(0));
    std::fill(slot.acc, slot.acc + plan.acc_elements + kPlaneSlack, T(0));
    const ItemRange range = this_threads_items(items);
    ItemCursor at(range.begin, g, plan.bands);
    for (std::int64_t item = range.begin; item < range.end; ++item, at.next(g, plan.bands)) {
      const std::int64_t oh0 = at.band * plan.band_rows;
      const std::int64_t rows = std::min(plan.band_rows, g.out[1] - oh0);
      const std::int64_t count = (rows - 1) * plan.pitch + g.out[2];
      const T* src = x.src.plane(at.n, at.c);
      std::int64_t buffer_holds = kNothing;  // input slice in the buffer, or kZeros
      for (std::int64_t k = at.c * multiplier; k < (at.c + 1) * multiplier; ++k) {
        const ProfileScope scope(Phase::microkernel);  // taps and the store with its epilogue
        const T* filter = gather_filter(g, x.weight, k, slot.weights);
        bool started = false;
        for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd) {
          const T* slice_weights = filter + kd * slice_taps;
          std::int64_t slice = at.od * g.stride[0] + kd * g.dilation[0] - g.pad_begin[0];
          if (slice < 0 || slice >= g.in[0]) {
            // A padded slice adds 0 * w: nothing, unless a weight is not finite.
            if (all_finite(slice_weights, slice_taps)) continue;
            slice = kZeros;
          }
          if (slice != buffer_holds) {
            const ProfileScope fill_scope(Phase::transforms);  // padded copy of the input slice
            kernels.fill(slot.buffer, layout, slice == kZeros ? nullptr : src + slice * ss[2], oh0);
            buffer_holds = slice;
          }
          kernels.taps(slot.acc, count, slot.buffer, layout, slice_weights, started);
          started = true;
        }
        if (!started) std::fill(slot.acc, slot.acc + count, T(0));
        kernels.store(x.dst.plane(at.n, k) + at.od * ds[2] + oh0 * ds[3], layout, slot.acc,
                      rows, epilogue, k);
      }
    }
  });
}

template void depthwise_plane_forward<float>(const ConvGeometry&, const PlanePlan&,
                                            const ConvOperands<float>&, std::byte*, int);
template void depthwise_plane_forward<double>(const ConvGeometry&, const PlanePlan&,
                                             const ConvOperands<double>&, std::byte*, int);

}  // namespace fastconv::detail
