// implicit_gemm_weights.cpp — see implicit_gemm_weights.hpp.
#include "engines/implicit_gemm/implicit_gemm_weights.hpp"

namespace fastconv::detail {

bool filters_contiguous(const ConvGeometry& g, const IgemmSetup& s, const View5<float>& weight) {
  const auto& ws = weight.strides;
  return (g.kernel[2] == 1 || ws[4] == 1) && (g.kernel[1] == 1 || ws[3] == g.kernel[2]) &&
         (g.kernel[0] == 1 || ws[2] == g.kernel[1] * g.kernel[2]) && (s.in_per_group == 1 || ws[1] == s.taps);
}

bool taps_reversed_contiguous(const ConvGeometry& g, const View5<float>& weight) {
  const auto& ws = weight.strides;
  return g.kernel_volume() > 1 && (g.kernel[2] == 1 || ws[4] == -1) && (g.kernel[1] == 1 || ws[3] == -g.kernel[2]) &&
         (g.kernel[0] == 1 || ws[2] == -g.kernel[1] * g.kernel[2]);
}

void pack_block(const ConvGeometry& g, const IgemmSetup& s, const View5<float>& weight,
                std::int64_t group, std::int64_t block, std::int64_t c0, std::int64_t count,
                float* out) {
  const std::int64_t ocb = s.ocb;
  const std::int64_t first = block * ocb, valid = std::min(ocb, s.out_per_group - first);
  const auto& ws = weight.strides;
  const float* filters = weight.plane(group * s.out_per_group + first, c0);
  if (filters_contiguous(g, s, weight)) {
    const std::int64_t lanes = s.kernel->lanes;
    s.kernel->pack(filters, ws[0], valid, count * s.taps, out, ocb);
    // Whole vectors of channels past K/g.
    for (std::int64_t i = 0; i < count * s.taps; ++i)
      for (std::int64_t j = (valid + lanes - 1) / lanes * lanes; j < ocb; ++j) out[i * ocb + j] = 0.0f;
    return;
  }
  if (taps_reversed_contiguous(g, weight)) {
    // backward_data's flipped kernel: per channel, the block's filters (ws[0] apart) each hold
    // their taps as one descending run: transpose the ascending runs into rows written from
    // the last tap's row upwards.
    for (std::int64_t c = 0; c < count; ++c) {
      const float* runs = filters + c * ws[1] - (s.taps - 1);
      float* rows = out + c * s.taps * ocb;
      s.kernel->pack(runs, ws[0], valid, s.taps, rows + (s.taps - 1) * ocb, -ocb);
      for (std::int64_t i = 0; i < s.taps; ++i)
        for (std::int64_t j = (valid + s.kernel->lanes - 1) / s.kernel->lanes * s.kernel->lanes; j < ocb; ++j)
          rows[i * ocb + j] = 0.0f;
    }
    return;
  }
  for (std::int64_t c = 0; c < count; ++c)
    for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd)
      for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
        for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw, out += ocb) {
          const float* tap = filters + c * ws[1] + kd * ws[2] + kh * ws[3] + kw * ws[4];
          std::int64_t j = 0;
          for (; j < valid; ++j) out[j] = tap[j * ws[0]];
          for (; j < ocb; ++j) out[j] = 0.0f;
        }
}

}  // namespace fastconv::detail
