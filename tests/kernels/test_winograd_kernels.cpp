// test_winograd_kernels.cpp — every Winograd F(2,3) transform entry of winograd_kernels.inc that
// this CPU (and FASTCONV_MAX_ISA) allows, against naive loops over the contracts
// (winograd_kernels.hpp).
//
// Input transform: every tile count 1..40 (vector remainders, rows shorter than one vector), the
// first column before, at and after the row start, rows of 1..70 columns ending inside, at and
// before the tiles' reach, unit and strided steps; values past round_up(count, 16) and columns
// outside the row must stay untouched (sentinels around the row, which is never read there), and
// an Inf or NaN anywhere in the columns read must make the check lanes' sum non-finite, and the
// largest-magnitude lanes must hold at least max |d| of the tiles' columns (the weight
// transform's: max |g|). Output
// transform: 1..33 channels, 1..20 tiles, an odd last column, bias on/off, unit and strided
// columns, sentinels between rows. Weight transform: widths with and without a vector
// remainder. Inputs are small integers and the factors 1 and 1/2, so results are exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "isa/cpu_isa.hpp"
#include "kernels/winograd/winograd_kernels.hpp"

namespace fastconv::detail {
namespace {

constexpr float kSentinel = -777.125f;

constexpr int kLanes = 2 * kWinogradCheckLanes;

float check_sum(const float* lanes) {
  float sum = 0.0f;
  for (int i = 0; i < kWinogradCheckLanes; ++i) sum += lanes[i];
  return sum;
}

float check_largest(const float* lanes) {
  float largest = 0.0f;
  for (int i = kWinogradCheckLanes; i < kLanes; ++i) largest = std::max(largest, lanes[i]);
  return largest;
}

TEST(WinogradKernels, InputRowAgainstNaive) {
  int tested = 0;
  for (const WinogradTransforms& entry : all_winograd_transforms()) {
    if (!isa_enabled(entry.isa)) continue;
    ++tested;
    for (const std::int64_t step : {1, 3})
      for (const std::int64_t width : {1, 2, 5, 16, 17, 33, 70})
        for (const std::int64_t x0 : {-3, -1, 0, 1, 5})
          for (std::int64_t count = 1; count <= 40; ++count) {
            // The row, with sentinels before and after it that must never be read into V.
            constexpr std::int64_t guard = 64;
            std::vector<float> memory(std::size_t(2 * guard + width * step), kSentinel);
            float* row = memory.data() + guard;
            for (std::int64_t x = 0; x < width; ++x) row[x * step] = float((x * 7 + 3) % 11) - 5.0f;
            const std::int64_t written = (count + 15) / 16 * 16, e_stride = written + 8;
            std::vector<float> v(std::size_t(4 * e_stride), kSentinel);
            alignas(64) float lanes[kLanes] = {};
            entry.input_row(row, step, x0, width, count, v.data(), e_stride, lanes);
            const std::string where = entry.name() + " step=" + std::to_string(step) + " width=" +
                                      std::to_string(width) + " x0=" + std::to_string(x0) +
                                      " count=" + std::to_string(count);
            auto d = [&](std::int64_t p, int j) {
              const std::int64_t x = x0 + 2 * p + j;
              return x >= 0 && x < width ? row[x * step] : 0.0f;
            };
            float largest = 0.0f;
            for (std::int64_t p = 0; p < count; ++p) {
              const float expected[4] = {d(p, 0) - d(p, 2), d(p, 1) + d(p, 2), d(p, 2) - d(p, 1), d(p, 1) - d(p, 3)};
              for (int e = 0; e < 4; ++e) ASSERT_EQ(v[std::size_t(e * e_stride + p)], expected[e]) << where << " p=" << p << " e=" << e;
              for (int j = 0; j < 4; ++j) largest = std::max(largest, std::abs(d(p, j)));
            }
            // At least max |d| of the tiles' columns; the tiles past count that a vector computes
            // may add other columns of the row, never values from outside it.
            float row_largest = 0.0f;
            for (std::int64_t x = 0; x < width; ++x) row_largest = std::max(row_largest, std::abs(row[x * step]));
            ASSERT_GE(check_largest(lanes), largest) << where;
            ASSERT_LE(check_largest(lanes), row_largest) << where;
            for (int e = 0; e < 4; ++e)
              for (std::int64_t p = written; p < e_stride; ++p)
                ASSERT_EQ(v[std::size_t(e * e_stride + p)], kSentinel) << where << " wrote past round_up(count, 16)";
            ASSERT_TRUE(std::isfinite(check_sum(lanes))) << where;
            // A non-finite value in a column the tiles read (the first, the middle or the last).
            const std::int64_t lo = std::max<std::int64_t>(x0, 0), hi = std::min(width, x0 + 2 * count + 2);
            for (const std::int64_t x : {lo, (lo + hi) / 2, hi - 1}) {
              if (x < lo || x >= hi) continue;
              {  // a huge finite value there shows in the largest-magnitude lanes
                const float saved = row[x * step];
                row[x * step] = -1e30f;
                alignas(64) float big_lanes[kLanes] = {};
                entry.input_row(row, step, x0, width, count, v.data(), e_stride, big_lanes);
                EXPECT_GE(check_largest(big_lanes), 1e30f) << where << " huge column " << x;
                row[x * step] = saved;
              }
              for (const float bad : {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
                const float saved = row[x * step];
                row[x * step] = bad;
                alignas(64) float bad_lanes[kLanes] = {};
                entry.input_row(row, step, x0, width, count, v.data(), e_stride, bad_lanes);
                EXPECT_FALSE(std::isfinite(check_sum(bad_lanes))) << where << " bad column " << x;
                row[x * step] = saved;
              }
            }
          }
  }
  EXPECT_GT(tested, 0);
}

TEST(WinogradKernels, OutputAgainstNaive) {
  for (const WinogradTransforms& entry : all_winograd_transforms()) {
    if (!isa_enabled(entry.isa)) continue;
    for (const std::int64_t channels : {1, 3, 33})
      for (std::int64_t pixels = 1; pixels <= 20; ++pixels)
        for (const bool odd : {false, true})
          for (const bool with_bias : {false, true})
            for (const std::int64_t column_stride : {1, 3}) {
              const std::int64_t columns = 2 * pixels - (odd ? 1 : 0);
              const std::int64_t channel_stride = (pixels + 15) / 16 * 16 + 5, e_stride = channels * channel_stride;
              std::vector<float> products(std::size_t(4 * e_stride + 16));
              for (std::size_t i = 0; i < products.size(); ++i) products[i] = float(int(i * 5 % 13) - 6);
              std::vector<float> bias(static_cast<std::size_t>(channels));
              for (std::int64_t j = 0; j < channels; ++j) bias[std::size_t(j)] = float(j % 4) - 1.5f;
              const std::int64_t out_channel_stride = columns * column_stride + 7;
              std::vector<float> out(std::size_t(channels * out_channel_stride), kSentinel);
              entry.output(products.data(), e_stride, channel_stride, channels, pixels, columns,
                           with_bias ? bias.data() : nullptr, out.data(), out_channel_stride, column_stride);
              std::vector<float> expected(out.size(), kSentinel);
              for (std::int64_t j = 0; j < channels; ++j)
                for (std::int64_t c = 0; c < columns; ++c) {
                  const float* m = products.data() + j * channel_stride + c / 2;
                  const float m0 = m[0], m1 = m[e_stride], m2 = m[2 * e_stride], m3 = m[3 * e_stride];
                  expected[std::size_t(j * out_channel_stride + c * column_stride)] =
                      (c % 2 == 0 ? m0 + m1 + m2 : m1 - m2 - m3) + (with_bias ? bias[std::size_t(j)] : 0.0f);
                }
              ASSERT_EQ(out, expected) << entry.name() << " channels=" << channels << " pixels=" << pixels
                                       << " columns=" << columns << " bias=" << with_bias
                                       << " column_stride=" << column_stride;
            }
  }
}

TEST(WinogradKernels, WeightsAgainstNaive) {
  for (const WinogradTransforms& entry : all_winograd_transforms()) {
    if (!isa_enabled(entry.isa)) continue;
    for (const std::int64_t rows : {1, 5})
      for (const std::int64_t width : {8, 16, 32, 33}) {
        std::vector<float> t(std::size_t(rows * 3 * width));
        for (std::size_t i = 0; i < t.size(); ++i) t[i] = float(int(i * 3 % 17) - 8);
        const std::int64_t e_stride = rows * width + 3;
        std::vector<float> u(std::size_t(4 * e_stride), kSentinel), expected(u.size(), kSentinel);
        alignas(64) float lanes[kLanes] = {};
        entry.weights(t.data(), rows, width, u.data(), e_stride, lanes);
        double sum = 0.0;
        float largest = 0.0f;
        for (std::int64_t r = 0; r < rows; ++r)
          for (std::int64_t j = 0; j < width; ++j) {
            const float g0 = t[std::size_t((r * 3) * width + j)], g1 = t[std::size_t((r * 3 + 1) * width + j)];
            const float g2 = t[std::size_t((r * 3 + 2) * width + j)];
            sum += double(g0) + g1 + g2;
            largest = std::max({largest, std::abs(g0), std::abs(g1), std::abs(g2)});
            const float values[4] = {g0, (g0 + g1 + g2) * 0.5f, (g0 - g1 + g2) * 0.5f, g2};
            for (int e = 0; e < 4; ++e) expected[std::size_t(e * e_stride + r * width + j)] = values[e];
          }
        ASSERT_EQ(u, expected) << entry.name() << " rows=" << rows << " width=" << width;
        EXPECT_EQ(double(check_sum(lanes)), sum) << entry.name();
        EXPECT_EQ(check_largest(lanes), largest) << entry.name();
        t[t.size() / 2] = std::numeric_limits<float>::infinity();
        alignas(64) float bad_lanes[kLanes] = {};
        entry.weights(t.data(), rows, width, u.data(), e_stride, bad_lanes);
        EXPECT_FALSE(std::isfinite(check_sum(bad_lanes))) << entry.name();
      }
  }
}

// Names follow f32_winograd_f2k3__<isa>, and every ISA has an entry.
TEST(WinogradKernels, ListNamesAndCoverage) {
  bool isa_seen[3] = {};
  for (const WinogradTransforms& entry : all_winograd_transforms()) {
    isa_seen[int(entry.isa)] = true;
    EXPECT_EQ(entry.name(), std::string("f32_winograd_f2k3__") + isa_name(entry.isa));
    EXPECT_EQ(&winograd_transforms(entry.isa), &entry);
  }
  for (const bool seen : isa_seen) EXPECT_TRUE(seen);
}

}  // namespace
}  // namespace fastconv::detail
