// implicit_gemm_weights.hpp — the implicit_gemm engine's weight packing: output-channel blocks
// packed as [channel][tap][OCB] for the microkernels, and the prefetch of the next chunk's raw
// weights while the current chunk runs.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/view5.hpp"
#include "engines/implicit_gemm/implicit_gemm_setup.hpp"
#include "plan/conv_geometry.hpp"

namespace fastconv::detail {

// Whether every filter's values for consecutive input channels are one contiguous run of floats
// ([channel][kd][kh][kw] dense; the strides of size-1 axes do not matter, e.g. the depth axis of a
// 2-D problem, whose stride is 0).
bool filters_contiguous(const ConvGeometry& g, const IgemmSetup& s, const View5<float>& weight);

// Whether each filter's taps for one channel are one contiguous DESCENDING run of floats (the
// kernel flipped on every axis, as backward_data's view of the weights has it).
bool taps_reversed_contiguous(const ConvGeometry& g, const View5<float>& weight);

// Packs output-channel block `block` of group `group`, input channels [c0, c0 + count), as
// [channel][tap][OCB], zero past K/g: with the ISA's in-register transpose when each filter's
// chunk is one contiguous run of floats, or each filter's taps of a channel one descending run
// (taps_reversed_contiguous), element by element otherwise.
void pack_block(const ConvGeometry& g, const IgemmSetup& s, const View5<float>& weight,
                std::int64_t group, std::int64_t block, std::int64_t c0, std::int64_t count, float* out);

// Prefetches into L2, spread over the kernel calls of one channel chunk, the raw weights the
// next chunk will pack (filters stored contiguously only), so that packing does not wait on
// memory: on layers with big filters and few pixels (7x7, 14x14) reading the weights is a large
// share of the run.
class NextChunkPrefetch {
 public:
  void start(const ConvGeometry& g, const IgemmSetup& s, const View5<float>& weight,
             std::int64_t group, std::int64_t first_block, std::int64_t block_end,
             std::int64_t next_c0, std::int64_t calls) {
    cursor_ = total_ = filter_ = line_ = 0;
    const auto& ws = weight.strides;
    if (!filters_contiguous(g, s, weight) || next_c0 >= s.in_per_group || calls <= 0) return;
    const std::int64_t first = first_block * s.ocb;
    const std::int64_t filters = std::min(block_end * s.ocb, s.out_per_group) - first;
    const std::int64_t count = std::min(s.chunk_channels, s.in_per_group - next_c0);
    base_ = reinterpret_cast<const char*>(weight.plane(group * s.out_per_group + first, next_c0));
    filter_stride_ = ws[0] * std::int64_t(sizeof(float));
    lines_per_filter_ = (count * s.taps * std::int64_t(sizeof(float)) + 63) / 64;
    total_ = std::max<std::int64_t>(0, filters) * lines_per_filter_;
    per_call_ = (total_ + calls - 1) / calls;
  }
  void step() {
    // Local copies: the loop must not reload and store the members around every prefetch.
    std::int64_t left = std::min(per_call_, total_ - cursor_), filter = filter_, line = line_;
    if (left <= 0) return;
    cursor_ += left;
    for (; left > 0; --left) {
      __builtin_prefetch(base_ + filter * filter_stride_ + line * 64, 0, 2);
      if (++line == lines_per_filter_) {
        line = 0;
        ++filter;
      }
    }
    filter_ = filter;
    line_ = line;
  }

 private:
  const char* base_ = nullptr;
  std::int64_t filter_stride_ = 0, lines_per_filter_ = 1, total_ = 0, per_call_ = 0, cursor_ = 0;
  std::int64_t filter_ = 0, line_ = 0;  // the next line to prefetch: filter, line within it
};

}  // namespace fastconv::detail
