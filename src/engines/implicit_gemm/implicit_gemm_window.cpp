// implicit_gemm_window.cpp — see implicit_gemm_window.hpp.
#include "engines/implicit_gemm/implicit_gemm_window.hpp"

#include <algorithm>

namespace fastconv::detail {

void fill_block(const ConvGeometry& g, const IgemmSetup& s, const View5<float>& src, const BlockSource& b,
                float* window, float pad) {
  const auto& ss = src.strides;
  const std::int64_t span = b.span(g), first = b.first(g), ih0 = b.ih0(g);
  const std::int64_t band_rows = s.band_rows(g, b.runs);
  const std::int64_t stride_w = g.stride[2];
  // The span's columns left and right of the image (fill_rows wrote zeros there).
  const std::int64_t left = std::clamp<std::int64_t>(-first, 0, span);
  const std::int64_t right = std::clamp<std::int64_t>(g.in[2] - first, left, span);
  // Rows ih, ih + row_step, ... (`rows` of them), `pad` outside the image.
  auto copy_rows = [&](float* out, const float* plane, std::int64_t ih, std::int64_t rows,
                       std::int64_t row_step) {
    const std::int64_t lo = ih >= 0 ? 0 : std::min(rows, (-ih + row_step - 1) / row_step);
    const std::int64_t hi = ih >= g.in[1] ? 0 : std::clamp<std::int64_t>((g.in[1] - ih + row_step - 1) / row_step, lo, rows);
    std::fill(out, out + lo * s.row_len, pad);
    if (hi > lo) {
      s.kernel->fill_rows(out + lo * s.row_len, s.row_len, plane + (ih + lo * row_step) * ss[3],
                          row_step * ss[3], hi - lo, ss[4], first, span, g.in[2], stride_w, s.phase_len);
      if (pad != 0.0f) {
        for (std::int64_t r = lo; r < hi; ++r) {
          float* row = out + r * s.row_len;
          for (std::int64_t x = 0; x < left; ++x) row[(x % stride_w) * s.phase_len + x / stride_w] = pad;
          for (std::int64_t x = right; x < span; ++x) row[(x % stride_w) * s.phase_len + x / stride_w] = pad;
        }
      }
    }
    std::fill(out + hi * s.row_len, out + rows * s.row_len, pad);
  };
  for (std::int64_t c = 0; c < b.count; ++c) {
    const float* channel = b.channel(s, src, c);
    for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      float* out = window + c * s.window_channel_stride + kd * s.kd_stride;
      const std::int64_t id = b.id(g, kd);
      if (id < 0 || id >= g.in[0]) {
        std::fill(out, out + band_rows * s.row_len, pad);
        continue;
      }
      const float* plane = channel + id * ss[2];
      if (s.rows_overlap) {
        copy_rows(out, plane, ih0, band_rows, 1);
      } else {
        for (std::int64_t r = 0; r < b.runs; ++r)
          copy_rows(out + r * g.kernel[1] * s.row_len, plane, ih0 + r * g.stride[1], g.kernel[1], g.dilation[1]);
      }
    }
  }
}

}  // namespace fastconv::detail
