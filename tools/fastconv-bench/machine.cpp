// machine.cpp — FMA peak and triad bandwidth measurements, and the roofline figures of a row.
#include "machine.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

#include "aligned_buffer.hpp"
#include "fma_peak.hpp"
#include "isa/cpu_isa.hpp"

namespace fastconv_bench {
namespace {

using Clock = std::chrono::steady_clock;
using fastconv::detail::Isa;

// FMA loop iterations of one short run (~0.5 ms at AVX-512 peak), for the start-up peak and the
// bursts timed among a layer's contestants alike.
constexpr std::int64_t kBurstIterations = 200'000;

double fma_loop(Isa isa, std::int64_t iterations) {
  switch (isa) {
    case Isa::avx512:
      return run_fma_loop<Isa::avx512>(iterations);
    case Isa::avx2:
      return run_fma_loop<Isa::avx2>(iterations);
    case Isa::scalar:
      break;
  }
  return run_fma_loop<Isa::scalar>(iterations);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

double measure_fma_peak_gflops_per_core() {
  const Isa isa = fastconv::detail::active_isa();
  // Short runs, best of many: on a shared machine some of them run without being preempted.
  fma_loop(isa, kBurstIterations * 20);  // warm-up: let the core reach its vector clock
  double best = 0.0;
  const Clock::time_point start = Clock::now();
  while (seconds_since(start) < 0.2) {
    const Clock::time_point run_start = Clock::now();
    const double flops = fma_loop(isa, kBurstIterations);
    best = std::max(best, flops / seconds_since(run_start) * 1e-9);
  }
  return best;
}

double run_fma_burst(int threads) {
  const Isa isa = fastconv::detail::active_isa();
  double flops = 0.0;
#pragma omp parallel num_threads(threads) reduction(+ : flops)
  flops += fma_loop(isa, kBurstIterations);
  return flops;
}

double measure_triad_bandwidth_gbs(int threads) {
  constexpr std::size_t kElements = std::size_t(80) << 20 >> 2;  // 80 MiB of floats per array
  const AlignedBuffer a_buffer(kElements * sizeof(float));
  const AlignedBuffer b_buffer(kElements * sizeof(float));
  const AlignedBuffer c_buffer(kElements * sizeof(float));
  float* a = static_cast<float*>(a_buffer.data());
  float* b = static_cast<float*>(b_buffer.data());
  float* c = static_cast<float*>(c_buffer.data());
  const std::int64_t count = std::int64_t(kElements);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::int64_t i = 0; i < count; ++i) {
    a[i] = 0.0f;
    b[i] = 1.0f;
    c[i] = 2.0f;
  }
  double best = 0.0;
  const Clock::time_point start = Clock::now();
  float scalar = 0.5f;
  while (seconds_since(start) < 0.3) {
    const Clock::time_point pass_start = Clock::now();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::int64_t i = 0; i < count; ++i) a[i] = b[i] + scalar * c[i];
    const double seconds = seconds_since(pass_start);
    best = std::max(best, 3.0 * double(kElements * sizeof(float)) / seconds * 1e-9);
    std::swap(a, b);  // the next pass reads what this one wrote
    scalar = -scalar;
  }
  return best;
}

MachineFigures measure_machine(int threads) {
  MachineFigures machine;
  machine.isa = fastconv::detail::isa_name(fastconv::detail::active_isa());
  machine.threads = threads;
  machine.peak_gflops_per_core = measure_fma_peak_gflops_per_core();
  machine.peak_gflops = machine.peak_gflops_per_core * threads;
  machine.bandwidth_gbs = measure_triad_bandwidth_gbs(threads);
  return machine;
}

Roofline roofline(const MachineFigures& machine, double flops, double tensor_bytes,
                  double seconds) {
  Roofline result;
  if (seconds <= 0.0 || machine.peak_gflops <= 0.0) return result;
  result.percent_of_peak = flops / seconds * 1e-9 / machine.peak_gflops * 100.0;
  result.memory_bound = tensor_bytes > 0.0 && flops / tensor_bytes < machine.ridge_flop_per_byte();
  if (result.memory_bound) {
    result.percent_of_bandwidth_roofline =
        tensor_bytes / seconds * 1e-9 / machine.bandwidth_gbs * 100.0;
  }
  return result;
}

}  // namespace fastconv_bench
