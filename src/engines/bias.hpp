// bias.hpp — bias handling shared by the engines (the reference engine keeps its own loops, so
// that it stays an independent oracle):
//   fill_with_bias:      backward_data's starting value of diff_src — the transposed
//                        convolution's bias per channel, or zero — before products accumulate;
//   write_bias_gradient: backward_weights' bias gradient, for each output channel the sum of
//                        diff_dst over batch and space, accumulated in double.
#pragma once

#include "core/profile.hpp"
#include "engines/conv_engine.hpp"

namespace fastconv::detail {

template <typename T>
void fill_with_bias(const ConvGeometry& g, const View5<T>& diff_src, const Vector1<T>& bias) {
  const ProfileScope scope(Phase::epilogue);
  for (std::int64_t n = 0; n < g.batch; ++n)
    for (std::int64_t c = 0; c < g.in_channels; ++c) {
      const T value = bias.data ? bias[c] : T(0);
      for (std::int64_t d = 0; d < g.in[0]; ++d)
        for (std::int64_t h = 0; h < g.in[1]; ++h)
          for (std::int64_t w = 0; w < g.in[2]; ++w) diff_src.at(n, c, d, h, w) = value;
    }
}

template <typename T>
void write_bias_gradient(const ConvGeometry& g, const ConvOperands<T>& x) {
  if (!x.bias.data) return;
  const ProfileScope scope(Phase::epilogue);
  for (std::int64_t k = 0; k < g.out_channels; ++k) {
    double sum = 0.0;
    for (std::int64_t n = 0; n < g.batch; ++n)
      for (std::int64_t d = 0; d < g.out[0]; ++d)
        for (std::int64_t h = 0; h < g.out[1]; ++h)
          for (std::int64_t w = 0; w < g.out[2]; ++w) sum += double(x.dst.at(n, k, d, h, w));
    x.bias[k] = T(sum);
  }
}

}  // namespace fastconv::detail
