// tests/support/naive.cpp — see naive.hpp.
#include "support/naive.hpp"

#include <array>
#include <cstdint>
#include <stdexcept>

namespace fctest {

namespace {

using Index3 = std::array<std::int64_t, 3>;

struct Geometry {
  std::int64_t N, C, K, G;
  Index3 in, kernel, out, stride, dilation, pad;  // canonical 3-D, leading axes padded with 1
};

Geometry geometry(const Problem& p) {
  Geometry g{};
  g.N = p.batch;
  g.C = p.in_channels;
  g.K = p.out_channels;
  g.G = p.groups;
  const int shift = 3 - p.spatial_dims;
  for (int a = 0; a < 3; ++a) {
    g.in[a] = g.kernel[a] = g.out[a] = g.stride[a] = g.dilation[a] = 1;
    g.pad[a] = 0;
  }
  for (int i = 0; i < p.spatial_dims; ++i) {
    g.in[i + shift] = p.input_spatial[i];
    g.kernel[i + shift] = p.kernel[i];
    g.out[i + shift] = p.output_spatial[i];
    g.stride[i + shift] = p.params.strides[i];
    g.dilation[i + shift] = p.params.dilations[i];
    g.pad[i + shift] = p.params.pad_begin[i];
  }
  return g;
}

std::int64_t volume(const Index3& v) { return v[0] * v[1] * v[2]; }

// Row-major offset of (n, c, x0, x1, x2) in an (N, channels, sizes) array.
std::int64_t at(std::int64_t n, std::int64_t c, std::int64_t channels, const Index3& x,
                const Index3& sizes) {
  return (((n * channels + c) * sizes[0] + x[0]) * sizes[1] + x[1]) * sizes[2] + x[2];
}

// Calls f(position) for every position of a 3-D box.
template <typename F>
void for_box(const Index3& sizes, F&& f) {
  Index3 x{};
  for (x[0] = 0; x[0] < sizes[0]; ++x[0])
    for (x[1] = 0; x[1] < sizes[1]; ++x[1])
      for (x[2] = 0; x[2] < sizes[2]; ++x[2]) f(x);
}

// The input position a convolution output position `o` reads with kernel offset `k`;
// false when it falls into the padding.
bool source_position(const Geometry& g, const Index3& o, const Index3& k, Index3& x) {
  for (int a = 0; a < 3; ++a) {
    x[a] = o[a] * g.stride[a] - g.pad[a] + k[a] * g.dilation[a];
    if (x[a] < 0 || x[a] >= g.in[a]) return false;
  }
  return true;
}

}  // namespace

std::vector<std::vector<double>> naive_run(const Problem& p,
                                           const std::vector<std::vector<double>>& inputs,
                                           double padding_value) {
  const Geometry g = geometry(p);
  const std::int64_t C = g.C, K = g.K, G = g.G, N = g.N;
  const std::int64_t taps = volume(g.kernel);
  std::vector<std::vector<double>> outputs;
  switch (p.op) {
    case Op::forward: {
      const auto& x = inputs[0];
      const auto& w = inputs[1];
      std::vector<double> y(std::size_t(N * K * volume(g.out)), 0.0);
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t ko = 0; ko < K; ++ko) {
          const std::int64_t group = ko / (K / G);
          for_box(g.out, [&](const Index3& o) {
            double sum = p.has_bias ? inputs[2][std::size_t(ko)] : 0.0;
            for (std::int64_t cl = 0; cl < C / G; ++cl)
              for_box(g.kernel, [&](const Index3& k) {
                Index3 xi;
                const double weight = w[std::size_t(at(ko, cl, C / G, k, g.kernel))];
                if (!source_position(g, o, k, xi)) {
                  if (padding_value != 0.0) sum += padding_value * weight;
                  return;
                }
                sum += x[std::size_t(at(n, group * (C / G) + cl, C, xi, g.in))] * weight;
              });
            y[std::size_t(at(n, ko, K, o, g.out))] = sum;
          });
        }
      outputs.push_back(std::move(y));
      break;
    }
    case Op::transposed: {
      // Scatter: src position i with kernel offset k lands on dst position i*s - pad + k*d.
      const auto& x = inputs[0];
      const auto& w = inputs[1];
      std::vector<double> y(std::size_t(N * K * volume(g.out)), 0.0);
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t c = 0; c < C; ++c) {
          const std::int64_t group = c / (C / G);
          for_box(g.in, [&](const Index3& i) {
            const double value = x[std::size_t(at(n, c, C, i, g.in))];
            for (std::int64_t kl = 0; kl < K / G; ++kl)
              for_box(g.kernel, [&](const Index3& k) {
                Index3 o;
                for (int a = 0; a < 3; ++a) {
                  o[a] = i[a] * g.stride[a] - g.pad[a] + k[a] * g.dilation[a];
                  if (o[a] < 0 || o[a] >= g.out[a]) return;
                }
                y[std::size_t(at(n, group * (K / G) + kl, K, o, g.out))] +=
                    value * w[std::size_t(at(c, kl, K / G, k, g.kernel))];
              });
          });
        }
      if (p.has_bias)
        for (std::int64_t n = 0; n < N; ++n)
          for (std::int64_t ko = 0; ko < K; ++ko)
            for_box(g.out, [&](const Index3& o) {
              y[std::size_t(at(n, ko, K, o, g.out))] += inputs[2][std::size_t(ko)];
            });
      outputs.push_back(std::move(y));
      break;
    }
    case Op::backward_data: {
      const auto& dy = inputs[0];
      const auto& w = inputs[1];
      std::vector<double> dx(std::size_t(N * C * volume(g.in)), 0.0);
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t ko = 0; ko < K; ++ko) {
          const std::int64_t group = ko / (K / G);
          for_box(g.out, [&](const Index3& o) {
            const double grad = dy[std::size_t(at(n, ko, K, o, g.out))];
            for (std::int64_t cl = 0; cl < C / G; ++cl)
              for_box(g.kernel, [&](const Index3& k) {
                Index3 xi;
                if (!source_position(g, o, k, xi)) return;
                dx[std::size_t(at(n, group * (C / G) + cl, C, xi, g.in))] +=
                    grad * w[std::size_t(at(ko, cl, C / G, k, g.kernel))];
              });
          });
        }
      outputs.push_back(std::move(dx));
      break;
    }
    case Op::backward_weights: {
      const auto& x = inputs[0];
      const auto& dy = inputs[1];
      std::vector<double> dw(std::size_t(K * (C / G) * taps), 0.0);
      std::vector<double> db(std::size_t(K), 0.0);
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t ko = 0; ko < K; ++ko) {
          const std::int64_t group = ko / (K / G);
          for_box(g.out, [&](const Index3& o) {
            const double grad = dy[std::size_t(at(n, ko, K, o, g.out))];
            db[std::size_t(ko)] += grad;
            for (std::int64_t cl = 0; cl < C / G; ++cl)
              for_box(g.kernel, [&](const Index3& k) {
                Index3 xi;
                const double value = source_position(g, o, k, xi)
                                         ? x[std::size_t(at(n, group * (C / G) + cl, C, xi, g.in))]
                                         : padding_value;
                dw[std::size_t(at(ko, cl, C / G, k, g.kernel))] += grad * value;
              });
          });
        }
      outputs.push_back(std::move(dw));
      if (p.has_bias) outputs.push_back(std::move(db));
      break;
    }
    case Op::unfold:
    case Op::fold: {
      // Column matrix (N, C * taps, L): row (c, k) row-major, column = window position.
      const std::int64_t L = volume(g.out);
      const bool unfold = p.op == Op::unfold;
      std::vector<double> result(std::size_t(unfold ? N * C * taps * L : N * C * volume(g.in)),
                                 0.0);
      const auto& src = inputs[0];
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t c = 0; c < C; ++c) {
          std::int64_t tap = 0;
          for_box(g.kernel, [&](const Index3& k) {
            std::int64_t column = 0;
            for_box(g.out, [&](const Index3& o) {
              Index3 xi;
              const std::int64_t col_index = (n * C * taps + c * taps + tap) * L + column;
              if (source_position(g, o, k, xi)) {
                const std::int64_t image_index = at(n, c, C, xi, g.in);
                if (unfold)
                  result[std::size_t(col_index)] = src[std::size_t(image_index)];
                else
                  result[std::size_t(image_index)] += src[std::size_t(col_index)];
              } else if (unfold) {
                result[std::size_t(col_index)] = padding_value;
              }
              ++column;
            });
            ++tap;
          });
        }
      outputs.push_back(std::move(result));
      break;
    }
  }
  return outputs;
}

}  // namespace fctest
