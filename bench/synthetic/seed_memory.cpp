// seed_memory.cpp — where seed_1024_p1's time goes beyond its FMAs, and whether fewer FMAs move
// it. Two loops over the layer's interior (3x1024x1024 -> 16x1024x1024, 3x3):
// - direct: the few-channels kernel's inner loop (8 output channels x 48 pixels per tile, 27 taps,
//   one non-temporal store per tap through a pipe);
// - winograd_height: Winograd F(4,3) down the columns, direct along the rows (no shuffles: the
//   pixels stay in the vector lanes). Per 4 output rows and strip of 96 pixels, the 6 input rows of
//   each channel are transformed into an L1 buffer; per tile (8 channels x 48 pixels) and each of
//   the 6 transformed rows, a 9-tap GEMM; then A^T back to 4 rows, stored non-temporally. Half the
//   direct loop's multiply-adds (18 per output instead of 27, plus the transforms).
// Each with the input read from the image (DRAM) or from hot rows, and the output streamed to the
// 64 MiB image or stored to a hot buffer (one per thread). All variants run interleaved, 25 rounds;
// min / p25 / median ms. The rows are split statically over the threads (argument; default 1).
// Not part of the build (x86-64 with AVX-512 only):
//   g++ -O3 -std=c++20 -mavx512f -mfma -fopenmp bench/synthetic/seed_memory.cpp -o seed_memory
//   ./seed_memory 1 && ./seed_memory 2
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr int kW = 1024, kH = 1024, kC = 3, kK = 16, kKB = 8, kNV = 3, kTileWidth = 48, kTaps = 27;
float* image;      // [C][H][W]
float* output;     // [K][H][W]
float* hot_rows;   // 6 rows per channel of W + 64 (the direct loop reads the first 3)
float* hot_outputs; // 32 vectors per thread
int threads = 1;
alignas(64) float weights[2][kTaps][kKB];           // [block][c * 9 + kh * 3 + kw][k]
alignas(64) float winograd_weights[2][6][9][kKB];   // G g down each kernel column: [block][e][c * 3 + kw][k]
constexpr int kStrip = 96, kStripStride = kStrip + 64;
alignas(64) thread_local float strip[kC][6][kStripStride];       // B^T d of 6 input rows; pixel x0 - 16 at 0
alignas(64) thread_local float products[6][kKB * kNV][16];       // one tile's 6 GEMM results

struct Pending {  // the previous tile's vectors and where they go
  __m512 values[kKB * kNV];
  float* dst[kKB * kNV];
  int count = 0;
};

template <bool kHotInput, bool kHotOutput>
void tile(int oh, int block, int o0, Pending& pending, float* hot_output) {
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
      const float* row = kHotInput ? hot_rows + (c * 6 + kh) * (kW + 64) + 16 : image + (std::size_t(c) * kH + ih) * kW;
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
#pragma omp parallel num_threads(threads)
  {
    Pending pending;
    float* hot_output = hot_outputs + omp_get_thread_num() * 32 * 16;
#pragma omp for schedule(static)
    for (int oh = 0; oh < kH; ++oh)
      for (int block = 0; block < 2; ++block)
        for (int o0 = 16; o0 + kTileWidth <= kW; o0 += kTileWidth) tile<kHotInput, kHotOutput>(oh, block, o0, pending, hot_output);
    for (int i = 0; i < pending.count && !kHotOutput; ++i) _mm512_stream_ps(pending.dst[i], pending.values[i]);
    _mm_sfence();
  }
}

// B^T of F(4,3) applied to 6 rows of pixels [x0 - 16, x0 - 16 + count) into `strip`.
template <bool kHotInput>
void transform_strip(int oh, int x0, int count) {
  const __m512 four = _mm512_set1_ps(4), five = _mm512_set1_ps(5), two = _mm512_set1_ps(2);
  for (int c = 0; c < kC; ++c) {
    const float* rows[6];
    for (int i = 0; i < 6; ++i)
      rows[i] = (kHotInput ? hot_rows + (c * 6 + i) * (kW + 64) + 16
                           : image + (std::size_t(c) * kH + std::clamp(oh - 1 + i, 0, kH - 1)) * kW) + x0 - 16;
    for (int x = 0; x < count; x += 16) {
      __m512 d[6];
      for (int i = 0; i < 6; ++i) d[i] = _mm512_load_ps(rows[i] + x);
      const __m512 t0 = _mm512_fnmadd_ps(four, d[2], d[4]), t1 = _mm512_fnmadd_ps(four, d[1], d[3]);
      const __m512 t2 = _mm512_sub_ps(d[4], d[2]), t3 = _mm512_sub_ps(d[3], d[1]);
      float* out = &strip[c][0][x];
      _mm512_store_ps(out, _mm512_fnmadd_ps(five, d[2], _mm512_fmadd_ps(four, d[0], d[4])));
      _mm512_store_ps(out + 1 * kStripStride, _mm512_add_ps(t0, t1));
      _mm512_store_ps(out + 2 * kStripStride, _mm512_sub_ps(t0, t1));
      _mm512_store_ps(out + 3 * kStripStride, _mm512_fmadd_ps(two, t3, t2));
      _mm512_store_ps(out + 4 * kStripStride, _mm512_fnmadd_ps(two, t3, t2));
      _mm512_store_ps(out + 5 * kStripStride, _mm512_fnmadd_ps(five, d[3], _mm512_fmadd_ps(four, d[1], d[5])));
    }
  }
}

template <bool kHotInput, bool kHotOutput>
void run_winograd_height() {
  const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), eight = _mm512_set1_ps(8);
#pragma omp parallel num_threads(threads)
  {
  int hot = 0;
  float* hot_output = hot_outputs + omp_get_thread_num() * 32 * 16;
#pragma omp for schedule(static)
  for (int oh = 0; oh < kH - 3; oh += 4)
    for (int x0 = 16; x0 + kTileWidth <= kW; x0 += kStrip) {
      const int tiles = std::min(kStrip, (kW - 16 - x0) / kTileWidth * kTileWidth) / kTileWidth;
      transform_strip<kHotInput>(oh, x0, tiles * kTileWidth + 32);
      for (int block = 0; block < 2; ++block)
        for (int t = 0; t < tiles; ++t) {
          for (int e = 0; e < 6; ++e) {
            __m512 acc[kKB][kNV];
#pragma GCC unroll 8
            for (int b = 0; b < kKB; ++b)
              for (int v = 0; v < kNV; ++v) acc[b][v] = _mm512_setzero_ps();
#pragma GCC unroll 3
            for (int c = 0; c < kC; ++c)
#pragma GCC unroll 3
              for (int kw = 0; kw < 3; ++kw) {
                const float* src = &strip[c][e][16 + t * kTileWidth + kw - 1];
                const __m512 x0v = _mm512_loadu_ps(src), x1v = _mm512_loadu_ps(src + 16), x2v = _mm512_loadu_ps(src + 32);
#pragma GCC unroll 8
                for (int b = 0; b < kKB; ++b) {
                  const __m512 w = _mm512_set1_ps(winograd_weights[block][e][c * 3 + kw][b]);
                  acc[b][0] = _mm512_fmadd_ps(x0v, w, acc[b][0]);
                  acc[b][1] = _mm512_fmadd_ps(x1v, w, acc[b][1]);
                  acc[b][2] = _mm512_fmadd_ps(x2v, w, acc[b][2]);
                }
              }
#pragma GCC unroll 8
            for (int b = 0; b < kKB; ++b)
              for (int v = 0; v < kNV; ++v) _mm512_store_ps(products[e][b * kNV + v], acc[b][v]);
          }
          for (int i = 0; i < kKB * kNV; ++i) {  // A^T: 6 products -> 4 output rows
            __m512 m[6];
            for (int e = 0; e < 6; ++e) m[e] = _mm512_load_ps(products[e][i]);
            const __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
            const __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
            const __m512 y[4] = {_mm512_add_ps(_mm512_add_ps(m[0], s12), s34), _mm512_fmadd_ps(two, d34, d12),
                                 _mm512_fmadd_ps(four, s34, s12), _mm512_add_ps(_mm512_fmadd_ps(eight, d34, d12), m[5])};
            float* dst = output + (std::size_t(block * kKB + i / kNV) * kH + oh) * kW + x0 + t * kTileWidth + i % kNV * 16;
            for (int r = 0; r < 4; ++r) {
              if (kHotOutput) {
                _mm512_store_ps(hot_output + (hot++ & 31) * 16, y[r]);
              } else {
                _mm512_stream_ps(dst + r * kW, y[r]);
              }
            }
          }
        }
    }
  _mm_sfence();
  }
}

}  // namespace

int main(int argc, char** argv) {
  threads = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1;
  image = static_cast<float*>(std::aligned_alloc(4096, std::size_t(kC) * kH * kW * 4 + 4096));
  output = static_cast<float*>(std::aligned_alloc(4096, std::size_t(kK) * kH * kW * 4 + 4096));
  hot_rows = static_cast<float*>(std::aligned_alloc(64, kC * 6 * (kW + 64) * 4));
  hot_outputs = static_cast<float*>(std::aligned_alloc(64, 64 * 32 * threads));
  for (std::size_t i = 0; i < std::size_t(kC) * kH * kW; ++i) image[i] = float(i % 7) - 3;
  std::memset(output, 0, std::size_t(kK) * kH * kW * 4);
  for (int i = 0; i < kC * 6 * (kW + 64); ++i) hot_rows[i] = 1;
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < kTaps; ++t)
      for (int k = 0; k < kKB; ++k) weights[b][t][k] = 0.01f * float(t - k);
  const double g[6][3] = {{1. / 4, 0, 0}, {-1. / 6, -1. / 6, -1. / 6}, {-1. / 6, 1. / 6, -1. / 6},
                          {1. / 24, 1. / 12, 1. / 6}, {1. / 24, -1. / 12, 1. / 6}, {0, 0, 1}};
  for (int b = 0; b < 2; ++b)
    for (int e = 0; e < 6; ++e)
      for (int ckw = 0; ckw < 9; ++ckw)
        for (int k = 0; k < kKB; ++k) {
          double sum = 0;
          for (int kh = 0; kh < 3; ++kh) sum += g[e][kh] * weights[b][ckw / 3 * 9 + kh * 3 + ckw % 3][k];
          winograd_weights[b][e][ckw][k] = float(sum);
        }
  struct Variant {
    const char* name;
    void (*fn)();
    std::vector<double> ms;
  } variants[] = {{"direct, input from the image, output streamed", run<false, false>, {}},
                  {"direct, input from the image, output to a hot buffer", run<false, true>, {}},
                  {"direct, input from hot rows, output streamed", run<true, false>, {}},
                  {"direct, input from hot rows, output to a hot buffer", run<true, true>, {}},
                  {"winograd_height, input from the image, output streamed", run_winograd_height<false, false>, {}},
                  {"winograd_height, input from the image, output to a hot buffer", run_winograd_height<false, true>, {}},
                  {"winograd_height, input from hot rows, output streamed", run_winograd_height<true, false>, {}},
                  {"winograd_height, input from hot rows, output to a hot buffer", run_winograd_height<true, true>, {}}};
  // The two loops agree on the interior (both streamed from the image).
  std::vector<float> direct_output;
  run<false, false>();
  direct_output.assign(output, output + std::size_t(kK) * kH * kW);
  run_winograd_height<false, false>();
  double max_error = 0;
  for (int k = 0; k < kK; ++k)
    for (int oh = 1; oh + 1 < kH; ++oh)
      for (int ow = 16; ow < 1008; ++ow) {
        const std::size_t i = (std::size_t(k) * kH + oh) * kW + ow;
        max_error = std::max(max_error, double(std::fabs(direct_output[i] - output[i])));
      }
  std::printf("%d thread(s); largest |direct - winograd_height| over the interior: %.3g\n", threads, max_error);
  for (int round = 0; round < 25; ++round)
    for (Variant& v : variants) {
      const auto start = std::chrono::steady_clock::now();
      v.fn();
      v.ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
  for (Variant& v : variants) {
    std::sort(v.ms.begin(), v.ms.end());
    std::printf("%-62s min %6.2f  p25 %6.2f  median %6.2f ms\n", v.name, v.ms[0], v.ms[6], v.ms[12]);
  }
}
