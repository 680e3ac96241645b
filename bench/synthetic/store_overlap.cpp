// store_overlap.cpp — does a 64-byte store per iteration slow down register-only AVX-512 FMA work?
// 24 FMAs per iteration on 12 independent register chains (named variables: an array of
// accumulators may be kept in memory by the compiler, which is what invalidated session 7's test),
// plus one 64-byte store per iteration into a 64 MiB buffer, 1M iterations; best of 7 runs.
// Not part of the build (x86-64 with AVX-512 and MOVDIR64B only):
//   g++ -O2 -mavx512f -mmovdir64b bench/synthetic/store_overlap.cpp -o store_overlap
//   for mode in 0 1 2 3 4 5; do ./store_overlap $mode; done
// Modes: 0 FMAs only, 1 FMAs + non-temporal store, 2 FMAs + MOVDIR64B (from an L1 line),
// 3 MOVDIR64B only, 4 non-temporal stores only, 5 FMAs + plain store.
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

int main(int argc, char** argv) {
  const int mode = argc > 1 ? std::atoi(argv[1]) : 0;
  const long lines = 1L << 20;
  auto* out = static_cast<float*>(std::aligned_alloc(64, std::size_t(lines) * 64));
  std::memset(out, 0, std::size_t(lines) * 64);
  alignas(64) float line[16] = {1};
  const bool fmas = mode <= 2 || mode == 5;
  double best = 1e9;
  for (int rep = 0; rep < 7; ++rep) {
#define DECLARE(i) __m512 c##i = _mm512_set1_ps(float(i));
    CHAINS(DECLARE)
    const __m512 a = _mm512_set1_ps(1.0001f), b = _mm512_set1_ps(0.9999f);
    const auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < lines; ++i) {
#define FMA(i) c##i = _mm512_fmadd_ps(c##i, a, b);
      if (fmas) { CHAINS(FMA) CHAINS(FMA) }
      float* dst = out + i * 16;
      if (mode == 1 || mode == 4) _mm512_stream_ps(dst, c0);
      if (mode == 2 || mode == 3) {
        _mm512_store_ps(line, c0);
        _movdir64b(dst, line);
      }
      if (mode == 5) _mm512_store_ps(dst, c0);
    }
    _mm_sfence();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (ms < best) best = ms;
    __m512 sum = _mm512_setzero_ps();
#define ADD(i) sum = _mm512_add_ps(sum, c##i);
    CHAINS(ADD)
    if (_mm512_reduce_add_ps(sum) == 12345.0f) std::printf(" ");
  }
  std::printf("mode %d: best %.2f ms\n", mode, best);
  std::free(out);
}
