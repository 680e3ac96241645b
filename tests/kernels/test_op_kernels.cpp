// test_op_kernels.cpp — the kernels of every catalog inner operation (kernels/custom_ops/
// catalog_ops.inc; contracts in fastconv/custom/op_table.hpp) at every ISA this CPU (and
// FASTCONV_MAX_ISA) allows, against naive loops over the operation's scalar form.
//
// Channel tiles: both families, every P = 1..pmax, one and three input channels, one and five
// taps at scattered window offsets; padded weight lanes hold garbage that must not leak into the
// stored channels' values. Pixel-lane kernels: rows 1..9 (register-block remainders), pixels
// 1..41 (vector remainders, the lanes past `pixels` holding garbage in g), filters 1..6.
// Integer inputs make sum, max and min exact; logsumexp is compared with a tolerance. NaN and
// +-Inf values: a NaN combined value makes its output NaN (and is the extreme for argext).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "fastconv/inner_op.hpp"
#include "isa/cpu_isa.hpp"

namespace fastconv::detail {
namespace {


std::vector<const custom::OpTable*> catalog_tables() {
  std::vector<const custom::OpTable*> tables;
  for (const std::string& name : InnerOp::catalog_names()) tables.push_back(&InnerOp::catalog(name).table());
  return tables;
}

// The reduction of z by the table's rule, in double.
double reduce(Reduce reduce, const std::vector<double>& z) {
  if (reduce == Reduce::sum) {
    double sum = 0;
    for (const double v : z) sum += v;
    return sum;
  }
  double best = z[0];
  for (const double v : z)
    if (!std::isnan(best) && (std::isnan(v) || (reduce == Reduce::min ? v < best : v > best))) best = v;
  if (reduce != Reduce::logsumexp) return best;
  const double shift = std::isfinite(best) ? best : 0.0;
  double sum = 0;
  for (const double v : z) sum += std::exp(v - shift);
  return shift + std::log(sum);
}

bool same(double got, double want, bool exact) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return exact ? got == want : std::abs(got - want) <= 1e-4 * (1 + std::abs(want));
}

std::string where(const custom::OpTable& table, const custom::OpIsaKernels& isa) {
  return std::string(table.name) + " isa " + std::to_string(isa.isa);
}

float value(std::mt19937& rng, bool integers) {
  return integers ? float(int(rng() % 7) - 3) : std::uniform_real_distribution<float>(-2, 2)(rng);
}

TEST(OpKernels, ChannelTilesAgainstNaive) {
  int tested = 0;
  for (const custom::OpTable* table : catalog_tables())
    for (const custom::OpIsaKernels* isa : table->isas) {
      if (isa == nullptr || !isa_enabled(Isa(isa->isa))) continue;
      const bool integers = table->reduce != Reduce::logsumexp;
      std::mt19937 rng(7);
      for (const custom::ChannelTileFamily& family : isa->channel_tiles)
        for (int P = 1; P <= family.pmax; ++P)
          for (const int channels : {1, 3})
            for (const int taps : {1, 5})
              for (const int special : {0, 1, 2}) {  // none, a NaN input, an -Inf input
                const int ocb = family.ocv * isa->lanes;
                const std::int64_t channel_stride = 64 + P;
                std::vector<float> window(std::size_t(channels * channel_stride + 64));
                for (float& v : window) v = value(rng, integers);
                std::vector<std::int64_t> offsets;
                for (int t = 0; t < taps; ++t) offsets.push_back((t * 13) % 40);
                if (special) window[std::size_t(offsets.back() + P / 2)] = special == 1 ? NAN : -INFINITY;
                std::vector<float> weights(std::size_t(channels * taps * ocb));
                for (float& v : weights) v = value(rng, integers);
                std::vector<float> tile(std::size_t(P * ocb));
                custom::ChannelTileArgs args;
                args.window = window.data();
                args.window_channel_stride = channel_stride;
                args.tap_offsets = offsets.data();
                args.taps = taps;
                args.channels = channels;
                args.weights = weights.data();
                const float params[1] = {0};
                args.params = params;
                args.tile = tile.data();
                family.tiles[P - 1](args);
                for (int p = 0; p < P; ++p)
                  for (int j = 0; j < ocb; ++j) {
                    std::vector<double> z;
                    for (int c = 0; c < channels; ++c)
                      for (int t = 0; t < taps; ++t)
                        z.push_back(table->combine(window[std::size_t(c * channel_stride + offsets[std::size_t(t)] + p)],
                                                   weights[std::size_t((c * taps + t) * ocb + j)], nullptr));
                    const double want = reduce(table->reduce, z);
                    ASSERT_TRUE(same(tile[std::size_t(p * ocb + j)], want, integers))
                        << where(*table, *isa) << " ocv=" << family.ocv << " P=" << P << " channels=" << channels
                        << " taps=" << taps << " special=" << special << " p=" << p << " j=" << j << ": "
                        << tile[std::size_t(p * ocb + j)] << " vs " << want;
                  }
                ++tested;
              }
    }
  EXPECT_GT(tested, 100);
}

// A chunk of `rows` x `pixels` (row stride round_up(pixels, 16) + 16, garbage past pixels) and
// `filters` x `rows` weights.
struct Chunk {
  std::int64_t rows, pixels, filters, stride;
  std::vector<float> cols, weights, g, y;
  Chunk(std::int64_t r, std::int64_t p, std::int64_t f, std::mt19937& rng, bool integers)
      : rows(r), pixels(p), filters(f), stride((p + 15) / 16 * 16 + 16) {
    cols.resize(std::size_t(rows * stride));
    weights.resize(std::size_t(filters * rows));
    g.resize(std::size_t(filters * stride));
    y.resize(g.size());
    for (float& v : cols) v = value(rng, integers);
    for (float& v : weights) v = value(rng, integers);
    for (float& v : g) v = value(rng, integers);
  }
  custom::ColsArgs args() {
    custom::ColsArgs a;
    a.cols = cols.data();
    a.cols_stride = stride;
    a.rows = rows;
    a.pixels = pixels;
    a.weights = weights.data();
    a.weights_stride = rows;
    a.filters = filters;
    static const float params[1] = {0};
    a.params = params;
    a.out_stride = stride;
    a.g_stride = stride;
    return a;
  }
  std::vector<double> z(const custom::OpTable& table, std::int64_t k, std::int64_t q) const {
    std::vector<double> values;
    for (std::int64_t r = 0; r < rows; ++r)
      values.push_back(table.combine(cols[std::size_t(r * stride + q)], weights[std::size_t(k * rows + r)], nullptr));
    return values;
  }
};

TEST(OpKernels, PixelLaneKernelsAgainstNaive) {
  int tested = 0;
  for (const custom::OpTable* table : catalog_tables())
    for (const custom::OpIsaKernels* isa : table->isas) {
      if (isa == nullptr || !isa_enabled(Isa(isa->isa))) continue;
      const bool integers = table->reduce != Reduce::logsumexp;
      const bool extreme = table->reduce == Reduce::max || table->reduce == Reduce::min;
      std::mt19937 rng(11);
      for (const std::int64_t rows : {1, 4, 9})
        for (const std::int64_t pixels : {1, 7, 16, 17, 41})
          for (const std::int64_t filters : {1, 5}) {
            Chunk chunk(rows, pixels, filters, rng, integers);
            if (pixels > 3) chunk.cols[std::size_t((rows - 1) * chunk.stride + 2)] = NAN;  // one NaN input
            const std::string at = where(*table, *isa) + " rows=" + std::to_string(rows) + " pixels=" +
                                   std::to_string(pixels) + " filters=" + std::to_string(filters);
            // cols_reduce
            std::vector<float> out(std::size_t(filters * chunk.stride));
            custom::ColsArgs a = chunk.args();
            a.out = out.data();
            isa->cols_reduce(a);
            for (std::int64_t k = 0; k < filters; ++k)
              for (std::int64_t q = 0; q < pixels; ++q) {
                const double want = reduce(table->reduce, chunk.z(*table, k, q));
                chunk.y[std::size_t(k * chunk.stride + q)] = float(want);
                ASSERT_TRUE(same(out[std::size_t(k * chunk.stride + q)], want, integers))
                    << at << " reduce k=" << k << " q=" << q;
              }
            // cols_argext
            if (extreme) {
              std::vector<std::int32_t> index(out.size(), -7);
              a.index = index.data();
              isa->cols_argext(a);
              for (std::int64_t k = 0; k < filters; ++k)
                for (std::int64_t q = 0; q < pixels; ++q) {
                  const std::vector<double> z = chunk.z(*table, k, q);
                  std::int64_t first = 0;
                  for (std::int64_t r = 1; r < rows; ++r)
                    if (!std::isnan(z[std::size_t(first)]) &&
                        (std::isnan(z[std::size_t(r)]) ||
                         (table->reduce == Reduce::min ? z[std::size_t(r)] < z[std::size_t(first)]
                                                       : z[std::size_t(r)] > z[std::size_t(first)])))
                      first = r;
                  ASSERT_EQ(index[std::size_t(k * chunk.stride + q)], first) << at << " argext k=" << k << " q=" << q;
                }
              continue;
            }
            // The gradients (no NaN: their sums would be all NaN).
            Chunk clean(rows, pixels, filters, rng, integers);
            custom::ColsArgs b = clean.args();
            for (std::int64_t k = 0; k < filters; ++k)
              for (std::int64_t q = 0; q < pixels; ++q)
                clean.y[std::size_t(k * clean.stride + q)] = float(reduce(table->reduce, clean.z(*table, k, q)));
            b.g = clean.g.data();
            b.y = clean.y.data();
            std::vector<float> dcols(clean.cols.size(), 0.0f), dweights(clean.weights.size(), 0.5f);
            b.dcols = dcols.data();
            b.dweights = dweights.data();
            isa->cols_backward_data(b);
            isa->cols_backward_weights(b);
            for (std::int64_t r = 0; r < rows; ++r)
              for (std::int64_t q = 0; q < pixels; ++q) {
                double want = 0;
                for (std::int64_t k = 0; k < filters; ++k) {
                  const double x = clean.cols[std::size_t(r * clean.stride + q)], w = clean.weights[std::size_t(k * rows + r)];
                  double s = clean.g[std::size_t(k * clean.stride + q)];
                  if (table->reduce == Reduce::logsumexp)
                    s *= std::exp(table->combine(x, w, nullptr) - clean.y[std::size_t(k * clean.stride + q)]);
                  want += s * table->combine_dx(x, w, nullptr);
                }
                ASSERT_TRUE(same(dcols[std::size_t(r * clean.stride + q)], want, integers)) << at << " dcols r=" << r << " q=" << q;
              }
            for (std::int64_t k = 0; k < filters; ++k)
              for (std::int64_t r = 0; r < rows; ++r) {
                double want = 0.5;  // (accumulated onto)
                for (std::int64_t q = 0; q < pixels; ++q) {
                  const double x = clean.cols[std::size_t(r * clean.stride + q)], w = clean.weights[std::size_t(k * rows + r)];
                  double s = clean.g[std::size_t(k * clean.stride + q)];
                  if (table->reduce == Reduce::logsumexp)
                    s *= std::exp(table->combine(x, w, nullptr) - clean.y[std::size_t(k * clean.stride + q)]);
                  want += s * table->combine_dw(x, w, nullptr);
                }
                ASSERT_TRUE(same(dweights[std::size_t(k * rows + r)], want, integers)) << at << " dweights k=" << k << " r=" << r;
              }
            ++tested;
          }
    }
  EXPECT_GT(tested, 50);
}

}  // namespace
}  // namespace fastconv::detail
