// machine.hpp — the machine figures fastconv-bench measures at start-up, and the roofline.
//
// measure_machine(threads) times the FMA loop of fma_peak.hpp for the ISA the library uses
// (fastconv::detail::active_isa(), so FASTCONV_MAX_ISA caps it too) on one core and multiplies
// by `threads`, and measures memory bandwidth with a STREAM-style triad (a = b + s * c over
// three arrays far larger than the caches, counted as 3 x array bytes per pass) on `threads`
// OpenMP threads. Each figure is the best of repeated runs over 0.2 s (peak) and 0.3 s (triad).
// The bandwidth is DRAM's: a memory-bound layer whose tensors stay in cache can exceed 100 %
// of that roofline.
//
// Roofline: a layer whose arithmetic intensity (FLOP per byte of src + weight + dst) is below
// the ridge point (peak / bandwidth) is memory-bound; its attainable time is bytes / bandwidth.
#pragma once

#include <limits>
#include <string>

namespace fastconv_bench {

struct MachineFigures {
  std::string isa;  // "avx512", "avx2", "scalar"
  int threads = 1;
  double peak_gflops_per_core = 0.0;
  double peak_gflops = 0.0;    // peak_gflops_per_core * threads
  double bandwidth_gbs = 0.0;  // triad, GB/s (1e9 bytes)

  double ridge_flop_per_byte() const { return bandwidth_gbs > 0 ? peak_gflops / bandwidth_gbs : 0; }
};

MachineFigures measure_machine(int threads);

double measure_fma_peak_gflops_per_core();  // at fastconv::detail::active_isa()

// One short burst of the FMA loop (about 0.5 ms at peak) on `threads` OpenMP threads at once;
// returns the floating-point operations executed. Timed among a layer's contestants, it gives
// the peak available in each round (percent_of_round_peak).
double run_fma_burst(int threads);
double measure_triad_bandwidth_gbs(int threads);

struct Roofline {
  double percent_of_peak = 0.0;  // achieved GFLOP/s / peak GFLOP/s * 100
  // Median over the timing rounds of (this round's GFLOP/s / the FMA burst's GFLOP/s in the same
  // round) * 100: efficiency against the peak the shared machine gave in those moments; NaN when
  // the burst was not timed.
  double percent_of_round_peak = std::numeric_limits<double>::quiet_NaN();
  bool memory_bound = false;     // arithmetic intensity below the ridge point
  double percent_of_bandwidth_roofline = 0.0;  // memory-bound only: bytes/s / bandwidth * 100
};

Roofline roofline(const MachineFigures& machine, double flops, double tensor_bytes, double seconds);

}  // namespace fastconv_bench
