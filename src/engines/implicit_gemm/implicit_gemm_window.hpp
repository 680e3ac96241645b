// implicit_gemm_window.hpp — the implicit_gemm engine's input windows (layout in
// implicit_gemm_setup.hpp): what a block's window holds, its copy through the ISA's fill_rows,
// and the prefetch of the next block's input rows while the current block runs.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/view5.hpp"
#include "engines/implicit_gemm/implicit_gemm_setup.hpp"
#include "plan/conv_geometry.hpp"

namespace fastconv::detail {

// What one block's window holds (implicit_gemm_setup.hpp): output rows [oh, oh + runs) of plane
// (n, od) of `group`, output columns [column, column + pixels), input channels [c0, c0 + count).
struct BlockSource {
  std::int64_t group, n, od, oh, runs, column, pixels, c0, count;
  std::int64_t span(const ConvGeometry& g) const {
    return (pixels - 1) * g.stride[2] + (g.kernel[2] - 1) * g.dilation[2] + 1;
  }
  std::int64_t first(const ConvGeometry& g) const { return column * g.stride[2] - g.pad_begin[2]; }
  std::int64_t ih0(const ConvGeometry& g) const { return oh * g.stride[1] - g.pad_begin[1]; }
  std::int64_t id(const ConvGeometry& g, std::int64_t kd) const {
    return od * g.stride[0] - g.pad_begin[0] + kd * g.dilation[0];
  }
  // Input row of band row b (implicit_gemm_setup.hpp: consecutive rows, or KH rows per run).
  std::int64_t ih(const ConvGeometry& g, const IgemmSetup& s, std::int64_t b) const {
    return s.rows_overlap ? ih0(g) + b
                          : ih0(g) + (b / g.kernel[1]) * g.stride[1] + (b % g.kernel[1]) * g.dilation[1];
  }
  const float* channel(const IgemmSetup& s, const View5<float>& src, std::int64_t c) const {
    return src.plane(n, group * s.in_per_group + c0 + c);
  }
};

// Prefetches into L2, spread over the kernel calls of one block, the input rows the next
// block's window copies: they come from planes far apart, which hardware prefetchers miss, and
// waiting on them made the copy a large share of 3-D layers.
class NextWindowPrefetch {
 public:
  void start(const ConvGeometry& g, const IgemmSetup& s, const View5<float>& src, const BlockSource& b,
             std::int64_t calls) {
    g_ = &g;
    s_ = &s;
    src_ = &src;
    b_ = b;
    rows_ = s.band_rows(g, b.runs);
    const auto& ss = src.strides;
    const std::int64_t first = std::max<std::int64_t>(0, b.first(g));
    column_bytes_ = first * ss[4] * std::int64_t(sizeof(float));
    const std::int64_t columns = std::min(b.span(g), g.in[2] - first);
    lines_ = columns <= 0 ? 0 : ((columns - 1) * ss[4] * std::int64_t(sizeof(float))) / 64 + 2;
    c_ = kd_ = row_ = 0;
    const std::int64_t total = b.count * g.kernel[0] * rows_;
    rows_per_call_ = calls <= 0 || lines_ == 0 ? 0 : (total + calls - 1) / calls;
  }
  void stop() { rows_per_call_ = 0; }  // nothing to prefetch (the share's last block)
  void step() {
    for (std::int64_t n = 0; n < rows_per_call_ && c_ < b_.count; ++n) {
      const std::int64_t id = b_.id(*g_, kd_), ih = b_.ih(*g_, *s_, row_);
      if (id >= 0 && id < g_->in[0] && ih >= 0 && ih < g_->in[1]) {
        const auto& ss = src_->strides;
        const char* row = reinterpret_cast<const char*>(b_.channel(*s_, *src_, c_) + id * ss[2] + ih * ss[3]) +
                          column_bytes_;
        for (std::int64_t line = 0; line < lines_; ++line) __builtin_prefetch(row + line * 64, 0, 2);
      }
      if (++row_ == rows_) {
        row_ = 0;
        if (++kd_ == g_->kernel[0]) {
          kd_ = 0;
          ++c_;
        }
      }
    }
  }

 private:
  const ConvGeometry* g_ = nullptr;
  const IgemmSetup* s_ = nullptr;
  const View5<float>* src_ = nullptr;
  BlockSource b_{};
  std::int64_t rows_ = 0, column_bytes_ = 0, lines_ = 0, rows_per_call_ = 0;
  std::int64_t c_ = 0, kd_ = 0, row_ = 0;  // the next row: channel, kernel depth, band row
};

// Copies the window of one block, `pad` (an inner operation's pad value; 0 for the
// convolution) where it falls in the padding.
void fill_block(const ConvGeometry& g, const IgemmSetup& s, const View5<float>& src, const BlockSource& b,
                float* window, float pad = 0.0f);

}  // namespace fastconv::detail
