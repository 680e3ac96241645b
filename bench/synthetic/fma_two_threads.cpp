// fma_two_threads.cpp — how much faster two threads run the same register-only AVX-512 FMA work
// than one on this host: the ceiling for issue #4's ">= 1.8x at 2 threads" on compute-bound layers.
// Each round times one burst (12 independent FMA chains, 2.4M FMAs, about 0.5 ms at full speed) on
// one thread, then one burst on each of two OpenMP threads; 40 rounds; min / median / max of the
// per-round speedup 2 x t(1 thread) / t(2 threads). Not part of the build (x86-64 with AVX-512):
//   g++ -O2 -mavx512f -mfma -fopenmp bench/synthetic/fma_two_threads.cpp -o fma_two_threads && ./fma_two_threads
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace {

__attribute__((noinline)) float burst(long iterations) {
  __m512 chains[12];
  for (int i = 0; i < 12; ++i) chains[i] = _mm512_set1_ps(0.001f * float(i));
  const __m512 scale = _mm512_set1_ps(0.9999f), offset = _mm512_set1_ps(0.0001f);
  for (long it = 0; it < iterations; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) chains[i] = _mm512_fmadd_ps(chains[i], scale, offset);
  __m512 sum = chains[0];
  for (int i = 1; i < 12; ++i) sum = _mm512_add_ps(sum, chains[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, sum);
  float total = 0;
  for (float lane : lanes) total += lane;
  return total;
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main() {
  constexpr long kIterations = 200000;
  std::vector<double> speedups;
  float sink = 0;
  for (int round = 0; round < 40; ++round) {
    auto start = std::chrono::steady_clock::now();
    sink += burst(kIterations);
    const double one = ms_since(start);
    start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(2) reduction(+ : sink)
    sink += burst(kIterations);
    speedups.push_back(2 * one / ms_since(start));
  }
  std::sort(speedups.begin(), speedups.end());
  std::printf("2 threads over 1 thread, same work per thread: min %.2f  median %.2f  max %.2f  (checksum %g)\n",
              speedups.front(), speedups[speedups.size() / 2], speedups.back(), double(sink));
}
