// plane_op_forward.cpp — see plane_op_forward.hpp.
#include "engines/direct_op/plane_op_forward.hpp"

#include <algorithm>

#include "core/aligned_buffer.hpp"
#include "core/parallel.hpp"
#include "core/profile.hpp"
#include "engines/inner_op_kernels.hpp"

namespace fastconv::detail {
namespace {

constexpr std::int64_t kSlack = 64;         // floats past a plane and an output row the kernels may read
constexpr std::int64_t kFilterBlock = 16;   // output channels reduced per kernel call

std::int64_t round_up(std::int64_t value, std::int64_t step) { return (value + step - 1) / step * step; }

}  // namespace

PlaneOpSetup plane_op_setup(const ConvGeometry& g, std::int64_t slot_budget_bytes) {
  PlaneOpSetup s;
  if (g.kernel[0] != 1 || g.stride[1] != 1 || g.stride[2] != 1) {
    s.decline_reason = "the direct op path takes stride 1 along H and W with a kernel one deep";
    return s;
  }
  s.cg = g.in_channels_per_group();
  s.kg = g.out_channels_per_group();
  s.taps = g.kernel[1] * g.kernel[2];
  s.padded_w = g.in[2] + g.pad_begin[2] + g.pad_end[2];
  s.filter_block = std::min(s.kg, kFilterBlock);
  const std::int64_t extent_h = (g.kernel[1] - 1) * g.dilation[1];  // input rows past a band's own
  // Floats of a slot for a band of b output rows: the plane (C/g channels of b + extent_h rows)
  // and one filter block's outputs (b rows), each with slack.
  const auto slot_floats = [&](std::int64_t b) {
    return s.cg * ((b + extent_h) * s.padded_w) + kSlack + s.filter_block * (round_up(b * s.padded_w, 16) + kSlack);
  };
  const std::int64_t budget_floats = slot_budget_bytes / std::int64_t(sizeof(float));
  if (slot_floats(1) > budget_floats) {
    s.decline_reason = "a one-row band of " + std::to_string(s.padded_w) + " padded columns exceeds the direct op "
                       "path's budget";
    return s;
  }
  s.band = std::min<std::int64_t>(g.out[1], 1 + (budget_floats - slot_floats(1)) /
                                                    (s.padded_w * (s.cg + s.filter_block)));
  s.bands = (g.out[1] + s.band - 1) / s.band;
  s.band = (g.out[1] + s.bands - 1) / s.bands;  // even bands
  s.band_rows_in = s.band + extent_h;
  s.channel_floats = s.band_rows_in * s.padded_w;
  s.out_stride = round_up(s.band * s.padded_w, 16) + kSlack;
  for (std::int64_t c = 0; c < s.cg; ++c)
    for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
      for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw)
        s.offsets.push_back(c * s.channel_floats + kh * g.dilation[1] * s.padded_w + kw * g.dilation[2]);
  s.weights_bytes = align64(std::size_t(g.out_channels * s.cg * s.taps) * sizeof(float));
  s.slot_bytes = align64(std::size_t(s.cg * s.channel_floats + kSlack) * sizeof(float)) +
                 align64(std::size_t(s.filter_block * s.out_stride) * sizeof(float));
  return s;
}

void plane_op_forward(const ConvGeometry& g, const PlaneOpSetup& s, const InnerOp& op,
                      const ConvOperands<float>& x, void* workspace, int threads) {
  const OpParams params(op);
  const custom::OpIsaKernels& kernels = *active_op_kernels(op.table());
  auto* bytes = static_cast<std::byte*>(workspace);
  float* weights = reinterpret_cast<float*>(bytes);
  {
    std::int64_t i = 0;
    for (std::int64_t k = 0; k < g.out_channels; ++k)
      for (std::int64_t c = 0; c < s.cg; ++c)
        for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
          for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw) weights[i++] = x.weight.at(k, c, 0, kh, kw);
  }
  std::byte* slots = bytes + s.weights_bytes;
  const float pad = float(op.pad_value());
  const auto& ss = x.src.strides;
  const auto& ds = x.dst.strides;
  const std::int64_t items = g.batch * g.groups * g.out[0] * s.bands;
  const std::int64_t rows = s.cg * s.taps;
#pragma omp parallel for schedule(dynamic) num_threads(threads_for_work(g.multiply_adds(), threads))
  for (std::int64_t item = 0; item < items; ++item) {
    std::byte* slot = slots + std::size_t(thread_index()) * s.slot_bytes;
    float* plane = reinterpret_cast<float*>(slot);
    float* out = reinterpret_cast<float*>(slot + align64(std::size_t(s.cg * s.channel_floats + kSlack) * sizeof(float)));
    const std::int64_t band = item % s.bands, od = item / s.bands % g.out[0];
    const std::int64_t group = item / (s.bands * g.out[0]) % g.groups, n = item / (s.bands * g.out[0] * g.groups);
    const std::int64_t oh0 = band * s.band, band_rows = std::min(s.band, g.out[1] - oh0);
    const std::int64_t count = band_rows * s.padded_w;
    {
      const ProfileScope scope(Phase::transforms);  // the band's padded plane
      const std::int64_t id = od * g.stride[0] - g.pad_begin[0];
      for (std::int64_t c = 0; c < s.cg; ++c) {
        float* channel = plane + c * s.channel_floats;
        const float* src = x.src.plane(n, group * s.cg + c);
        for (std::int64_t r = 0; r < s.band_rows_in; ++r) {
          float* row = channel + r * s.padded_w;
          const std::int64_t ih = oh0 - g.pad_begin[1] + r;
          if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
            std::fill(row, row + s.padded_w, pad);
            continue;
          }
          const float* in = src + id * ss[2] + ih * ss[3];
          std::fill(row, row + g.pad_begin[2], pad);
          float* inside = row + g.pad_begin[2];
          if (ss[4] == 1) {
            std::copy(in, in + g.in[2], inside);
          } else {
            for (std::int64_t w = 0; w < g.in[2]; ++w) inside[w] = in[w * ss[4]];
          }
          std::fill(inside + g.in[2], row + s.padded_w, pad);
        }
      }
      std::fill(plane + s.cg * s.channel_floats, plane + s.cg * s.channel_floats + kSlack, 0.0f);
    }
    for (std::int64_t k0 = 0; k0 < s.kg; k0 += s.filter_block) {
      const std::int64_t filters = std::min(s.filter_block, s.kg - k0);
      custom::ColsArgs a;
      a.cols = plane;
      a.row_offsets = s.offsets.data();
      a.rows = rows;
      a.pixels = count;
      a.weights = weights + (group * s.kg + k0) * rows;
      a.weights_stride = rows;
      a.filters = filters;
      a.params = params.floats.data();
      a.out = out;
      a.out_stride = s.out_stride;
      {
        const ProfileScope scope(Phase::microkernel);
        kernels.cols_reduce(a);
      }
      const ProfileScope scope(Phase::epilogue);
      for (std::int64_t f = 0; f < filters; ++f) {
        const std::int64_t channel = group * s.kg + k0 + f;
        float* values = out + f * s.out_stride;
        float scratch[kSlack];
        for (std::int64_t r = 0; r < band_rows; ++r) {
          float* row = values + r * s.padded_w;
          for (std::int64_t w0 = 0; w0 < g.out[2]; w0 += kSlack) {  // (scratch-sized pieces)
            const std::int64_t piece = std::min(kSlack, g.out[2] - w0);
            apply_epilogue(op, params, kernels, row + w0, piece, x.bias.data ? x.bias[channel] : 0.0f, scratch);
          }
          float* dst = x.dst.data + n * ds[0] + channel * ds[1] + od * ds[2] + (oh0 + r) * ds[3];
          for (std::int64_t w = 0; w < g.out[2]; ++w) dst[w * ds[4]] = row[w];
        }
      }
    }
  }
}

}  // namespace fastconv::detail
