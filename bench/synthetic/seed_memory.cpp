// seed_memory.cpp — where seed_1024_p1's time goes beyond its FMAs: the few-channels direct
// kernel's inner loop (8 output channels x 48 pixels per tile, 27 taps, one non-temporal store
// per tap through a pipe) over the layer's interior (3x1024x1024 -> 16x1024x1024, 3x3), with the
// input read from the image (DRAM) or from 9 hot rows, and the output streamed to the 64 MiB
// image or stored to one hot buffer. The four variants run interleaved, 25 rounds; min / p25 /
// median ms. Not part of the build (x86-64 with AVX-512 only):
//   g++ -O3 -std=c++20 -mavx512f -mfma bench/synthetic/seed_memory.cpp -o seed_memory && ./seed_memory
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr int kW = 1024, kH = 1024, kC = 3, kK = 16, kKB = 8, kNV = 3, kTileWidth = 48, kTaps = 27;
float* image;      // [C][H][W]
float* output;     // [K][H][W]
float* hot_rows;   // 9 rows of W + 64
float* hot_output; // 32 vectors
alignas(64) float weights[2][kTaps][kKB];

struct Pending {  // the previous tile's vectors and where they go
  __m512 values[kKB * kNV];
  float* dst[kKB * kNV];
  int count = 0;
};

template <bool kHotInput, bool kHotOutput>
void tile(int oh, int block, int o0, Pending& pending) {
  __m512 acc[kKB][kNV];
#pragma GCC unroll 8
  for (int b = 0; b < kKB; ++b)
    for (int v = 0; v < kNV; ++v) acc[b][v] = _mm512_setzero_ps();
  int t = 0, stored = 0;
  auto store = [&](int i) {
    if (kHotOutput) {
      _mm512_store_ps(hot_output + (i & 31) * 16, pending.values[i]);
    } else {
      _mm512_stream_ps(pending.dst[i], pending.values[i]);
    }
  };
  for (int c = 0; c < kC; ++c)
    for (int kh = 0; kh < 3; ++kh) {
      const int ih = std::clamp(oh + kh - 1, 0, kH - 1);
      const float* row = kHotInput ? hot_rows + (c * 3 + kh) * (kW + 64) + 16 : image + (std::size_t(c) * kH + ih) * kW;
#pragma GCC unroll 3
      for (int kw = 0; kw < 3; ++kw, ++t) {
        const float* src = row + o0 + kw - 1;
        const __m512 x0 = _mm512_loadu_ps(src), x1 = _mm512_loadu_ps(src + 16), x2 = _mm512_loadu_ps(src + 32);
#pragma GCC unroll 8
        for (int b = 0; b < kKB; ++b) {
          const __m512 w = _mm512_set1_ps(weights[block][t][b]);
          acc[b][0] = _mm512_fmadd_ps(x0, w, acc[b][0]);
          acc[b][1] = _mm512_fmadd_ps(x1, w, acc[b][1]);
          acc[b][2] = _mm512_fmadd_ps(x2, w, acc[b][2]);
        }
        if (stored < pending.count) store(stored++);
      }
    }
  for (; stored < pending.count; ++stored) store(stored);
  for (int b = 0; b < kKB; ++b)
    for (int v = 0; v < kNV; ++v) {
      pending.values[b * kNV + v] = acc[b][v];
      pending.dst[b * kNV + v] = output + (std::size_t(block * kKB + b) * kH + oh) * kW + o0 + v * 16;
    }
  pending.count = kKB * kNV;
}

template <bool kHotInput, bool kHotOutput>
void run() {
  Pending pending;
  for (int oh = 0; oh < kH; ++oh)
    for (int block = 0; block < 2; ++block)
      for (int o0 = 16; o0 + kTileWidth <= kW; o0 += kTileWidth) tile<kHotInput, kHotOutput>(oh, block, o0, pending);
  for (int i = 0; i < pending.count && !kHotOutput; ++i) _mm512_stream_ps(pending.dst[i], pending.values[i]);
  _mm_sfence();
}

}  // namespace

int main() {
  image = static_cast<float*>(std::aligned_alloc(4096, std::size_t(kC) * kH * kW * 4 + 4096));
  output = static_cast<float*>(std::aligned_alloc(4096, std::size_t(kK) * kH * kW * 4 + 4096));
  hot_rows = static_cast<float*>(std::aligned_alloc(64, 9 * (kW + 64) * 4));
  hot_output = static_cast<float*>(std::aligned_alloc(64, 64 * 32));
  for (std::size_t i = 0; i < std::size_t(kC) * kH * kW; ++i) image[i] = float(i % 7) - 3;
  std::memset(output, 0, std::size_t(kK) * kH * kW * 4);
  for (int i = 0; i < 9 * (kW + 64); ++i) hot_rows[i] = 1;
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < kTaps; ++t)
      for (int k = 0; k < kKB; ++k) weights[b][t][k] = 0.01f * float(t - k);
  struct Variant {
    const char* name;
    void (*fn)();
    std::vector<double> ms;
  } variants[] = {{"input from the image, output streamed", run<false, false>, {}},
                  {"input from the image, output to a hot buffer", run<false, true>, {}},
                  {"input from hot rows, output streamed", run<true, false>, {}},
                  {"input from hot rows, output to a hot buffer", run<true, true>, {}}};
  for (int round = 0; round < 25; ++round)
    for (Variant& v : variants) {
      const auto start = std::chrono::steady_clock::now();
      v.fn();
      v.ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
  for (Variant& v : variants) {
    std::sort(v.ms.begin(), v.ms.end());
    std::printf("%-46s min %6.2f  p25 %6.2f  median %6.2f ms\n", v.name, v.ms[0], v.ms[6], v.ms[12]);
  }
}
