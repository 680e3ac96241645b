// test_few_channels_kernels.cpp — every few-channels microkernel in few_channels_kernels.inc that
// this CPU (and FASTCONV_MAX_ISA) allows, against a naive loop over the same taps.
//
// Edges: every pixel count 1 .. width + 1 (every row-end remainder, a full tile, a tile plus
// one) and two tiles plus a few; every channel count 1 .. 2 KB + 1 (several channel blocks per call); C = 1..4 input channels with
// square kernels 1, 3, 5, 7 (taps = C * k * k, each tap a unit-stride source row at its own
// offset); bias on/off, accumulate on/off, activations none / relu / clamp; streaming
// (non-temporal) stores allowed or not, on 64-byte aligned rows and on misaligned ones (where the
// kernel must fall back to normal stores). Inputs are small integers, so results are exact.
// Guard values around every destination row must survive.
//
// Row edges (tile.valid): each tap reads its own row holding only its valid pixels [lo, hi) (a
// random range, often the whole row), allocated exactly, so the tap pointer stands before the
// allocation when lo > 0; the sanitizers and NaN-free results check that nothing else is read.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "isa/cpu_isa.hpp"
#include "kernels/few_channels/few_channels_kernel.hpp"

namespace fastconv::detail {
namespace {

constexpr float kGuard = -777.0f;
constexpr std::int64_t kGuardWidth = 16;

struct Case {
  int input_channels, kernel_size, channels;
  std::int64_t count;
  bool bias, accumulate;
  Activation activation;
  bool stream = false;        // tile.stream_dst
  std::int64_t dst_misalign = 0;  // floats added to a 64-byte aligned dst (and its row stride)
  bool edges = false;             // tile.valid: random valid pixel ranges per tap
};

std::string describe(const FewChannelsKernel& kernel, const Case& c) {
  return std::string(kernel.name) + " C=" + std::to_string(c.input_channels) + " k=" +
         std::to_string(c.kernel_size) + " channels=" + std::to_string(c.channels) + " count=" +
         std::to_string(c.count) + " bias=" + std::to_string(c.bias) + " accumulate=" +
         std::to_string(c.accumulate) + " activation=" + std::to_string(int(c.activation)) +
         " stream=" + std::to_string(c.stream) + " dst_misalign=" + std::to_string(c.dst_misalign) +
         " edges=" + std::to_string(c.edges);
}

void run_case(const FewChannelsKernel& kernel, const Case& c, std::mt19937& rng) {
  std::uniform_int_distribution<int> small(-3, 3);
  const std::int64_t k = c.kernel_size, rows = c.input_channels * k, taps = rows * k, kb = kernel.kb;
  // Source rows with guards on both sides; tap (row, kw) reads row + kw.
  const std::int64_t row_length = c.count + k - 1 + 2 * kGuardWidth;
  std::vector<float> source(std::size_t(rows * row_length));
  for (auto& v : source) v = float(small(rng));
  std::vector<const float*> tap_pointers;
  for (std::int64_t row = 0; row < rows; ++row)
    for (std::int64_t kw = 0; kw < k; ++kw)
      tap_pointers.push_back(source.data() + row * row_length + kGuardWidth + kw);
  // Edges: tap t's valid pixels [valid[2t], valid[2t + 1]) in their own exact allocation.
  std::vector<std::int64_t> valid;
  std::vector<std::vector<float>> edge_rows;
  if (c.edges) {
    std::uniform_int_distribution<std::int64_t> pixel(0, c.count);
    for (std::int64_t t = 0; t < taps; ++t) {
      std::int64_t lo = 0, hi = c.count;
      if (rng() % 2 == 0) {
        lo = pixel(rng);
        hi = pixel(rng);
        if (lo > hi) std::swap(lo, hi);
      }
      valid.push_back(lo);
      valid.push_back(hi);
      std::vector<float>& row = edge_rows.emplace_back(std::size_t(hi - lo));
      for (auto& v : row) v = float(small(rng));
      tap_pointers[std::size_t(t)] = reinterpret_cast<const float*>(
          reinterpret_cast<std::uintptr_t>(row.data()) - std::uintptr_t(lo) * sizeof(float));
    }
  }
  auto tap_value = [&](std::int64_t t, std::int64_t j) -> double {
    if (c.edges && (j < valid[std::size_t(2 * t)] || j >= valid[std::size_t(2 * t + 1)])) return 0.0;
    if (c.edges) return double(edge_rows[std::size_t(t)][std::size_t(j - valid[std::size_t(2 * t)])]);
    return double(tap_pointers[std::size_t(t)][j]);
  };
  // Channel blocks of KB: weights [block][tap][KB], zero past `channels`.
  const std::int64_t slots = (c.channels + kb - 1) / kb * kb;
  auto weight_index = [&](std::int64_t t, std::int64_t b) { return std::size_t(((b / kb) * taps + t) * kb + b % kb); };
  std::vector<float> weights(std::size_t(slots * taps));
  std::vector<float> bias(static_cast<std::size_t>(slots));
  for (std::int64_t t = 0; t < taps; ++t)
    for (std::int64_t b = 0; b < slots; ++b) weights[weight_index(t, b)] = b < c.channels ? float(small(rng)) : 0.0f;
  for (auto& v : bias) v = float(small(rng));
  // Destination rows with guards; the channel stride (count + 2 guards, rounded up to 64 bytes,
  // plus the misalignment) keeps every row as aligned as the first.
  const std::int64_t dst_stride = (c.count + 2 * kGuardWidth + 15) / 16 * 16 + c.dst_misalign;
  std::vector<float> storage(std::size_t(slots * dst_stride + 16 + c.dst_misalign));
  const auto address = reinterpret_cast<std::uintptr_t>(storage.data());
  const std::span<float> dst(storage.data() + (64 - address % 64) % 64 / sizeof(float) + c.dst_misalign,
                             std::size_t(slots * dst_stride));
  std::fill(dst.begin(), dst.end(), kGuard);
  for (std::int64_t b = 0; b < c.channels; ++b)
    for (std::int64_t j = 0; j < c.count; ++j) dst[std::size_t(b * dst_stride + kGuardWidth + j)] = float(small(rng));
  const std::vector<float> initial(dst.begin(), dst.end());

  FewChannelsTile<float> tile;
  tile.taps = tap_pointers.data();
  tile.weights = weights.data();
  tile.tap_count = taps;
  tile.dst = dst.data() + kGuardWidth;
  tile.dst_channel_stride = dst_stride;
  tile.count = c.count;
  tile.channels = c.channels;
  tile.stream_dst = c.stream;
  if (c.edges) {
    tile.valid = valid.data();
    tile.valid_begin = 0;
    tile.valid_end = c.count;
    for (std::int64_t t = 0; t < taps; ++t) {
      tile.valid_begin = std::max(tile.valid_begin, valid[std::size_t(2 * t)]);
      tile.valid_end = std::min(tile.valid_end, valid[std::size_t(2 * t + 1)]);
    }
    tile.valid_end = std::max(tile.valid_begin, tile.valid_end);
  }
  EpilogueParams<float> epilogue;
  epilogue.bias = c.bias ? bias.data() : nullptr;
  epilogue.accumulate = c.accumulate;
  epilogue.activation = c.activation;
  epilogue.clamp_min = -20.0f;
  epilogue.clamp_max = 15.0f;
  kernel.run(tile, epilogue);
  if (c.stream) few_channels_store_fence();

  for (std::int64_t b = 0; b < slots; ++b)
    for (std::int64_t j = -kGuardWidth; j < c.count + kGuardWidth; ++j) {
      const std::size_t index = std::size_t(b * dst_stride + kGuardWidth + j);
      if (b >= c.channels || j < 0 || j >= c.count) {
        ASSERT_EQ(dst[index], initial[index]) << describe(kernel, c) << ": wrote outside at " << b << "," << j;
        continue;
      }
      double expected = 0.0;
      for (std::int64_t t = 0; t < taps; ++t)
        expected += double(weights[weight_index(t, b)]) * tap_value(t, j);
      if (c.bias) expected += double(bias[std::size_t(b)]);
      if (c.accumulate) expected += double(initial[index]);
      if (c.activation == Activation::relu) expected = std::max(expected, 0.0);
      if (c.activation == Activation::clamp) expected = std::clamp(expected, -20.0, 15.0);
      ASSERT_EQ(double(dst[index]), expected) << describe(kernel, c) << " at channel " << b << " pixel " << j;
    }
}

TEST(FewChannelsKernels, EveryKernelMatchesNaiveLoops) {
  std::mt19937 rng(2024);
  int tested = 0;
  for (const FewChannelsKernel& kernel : all_few_channels_kernels()) {
    if (!isa_enabled(kernel.isa)) continue;
    ++tested;
    std::vector<std::int64_t> counts;
    for (std::int64_t count = 1; count <= kernel.width + 1; ++count) counts.push_back(count);
    counts.push_back(2 * kernel.width + 5);
    for (const std::int64_t count : counts)
      for (int channels = 1; channels <= 2 * kernel.kb + 1; ++channels) {
        // Every pixel count and channel count with one varying configuration...
        const int variant = int(count + channels);
        Case c{1 + variant % 4, 1 + 2 * (variant % 4), channels, count, variant % 2 == 0,
               variant % 3 == 0, Activation(variant % 3), variant % 5 < 3, variant % 7 == 0 ? 1 : 0};
        run_case(kernel, c, rng);
        if (HasFatalFailure()) return;
        c.edges = true;
        run_case(kernel, c, rng);
        if (HasFatalFailure()) return;
      }
    // ... and every configuration on a few counts (3 tiles + 7: the streaming store pipe, whole and
    // partial row ends).
    for (const std::int64_t count : {std::int64_t(1), std::int64_t(kernel.width - 1), std::int64_t(kernel.width + 3),
                                     std::int64_t(3 * kernel.width + 7)})
      for (int input_channels = 1; input_channels <= 4; ++input_channels)
        for (int kernel_size : {1, 3, 5, 7})
          for (bool bias : {false, true})
            for (bool accumulate : {false, true})
              for (Activation activation : {Activation::none, Activation::relu, Activation::clamp})
                for (bool stream : {false, true})
                  for (bool edges : {false, true}) {
                    run_case(kernel,
                             Case{input_channels, kernel_size, count > kernel.width ? 2 * kernel.kb - 1 : kernel.kb,
                                  count, bias, accumulate, activation, stream, 0, edges},
                             rng);
                    if (HasFatalFailure()) return;
                  }
  }
  EXPECT_GT(tested, 0) << "no kernel runs on this CPU";
}

TEST(FewChannelsKernels, ListHasEveryIsaAndNamesMatchTiles) {
  for (const Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    int count = 0;
    for (const FewChannelsKernel& kernel : all_few_channels_kernels()) {
      if (kernel.isa != isa) continue;
      ++count;
      const std::string expected = "f32_fewch_" + std::to_string(kernel.kb) + "x" +
                                   std::to_string(kernel.width) + "__" + isa_name(isa);
      EXPECT_EQ(expected, kernel.name);
    }
    EXPECT_GT(count, 0) << isa_name(isa);
  }
}

}  // namespace
}  // namespace fastconv::detail
