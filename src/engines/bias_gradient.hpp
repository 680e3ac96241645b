// bias_gradient.hpp — the bias gradient every backward_weights engine writes: for each output
// channel, the sum of diff_dst over batch and space, accumulated in double. (The reference
// engine keeps its own copy, so that it stays an independent oracle.)
#pragma once

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

template <typename T>
void write_bias_gradient(const ConvGeometry& g, const ConvOperands<T>& x) {
  if (!x.bias.data) return;
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
