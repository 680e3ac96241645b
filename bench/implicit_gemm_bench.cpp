// implicit_gemm_bench.cpp — every implicit-GEMM microkernel of implicit_gemm_kernels.inc that this
// CPU (and FASTCONV_MAX_ISA) allows, at its widest tile P = pmax and, when that is wider, at
// P = 7 (a 7-pixel row): one tile of P pixels x OCB output channels reduced over C input
// channels x a 3x3 kernel (window and weights in cache, NCHW store), reporting GFLOP/s (2 per
// multiply-add).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "isa/cpu_isa.hpp"
#include "kernels/implicit_gemm/implicit_gemm_kernels.hpp"

namespace fastconv::detail {
namespace {

void run_kernel(benchmark::State& state, const IgemmKernel& kernel, int pixels) {
  const std::int64_t channels = state.range(0), kernel_rows = 3, kernel_w = 3;
  const std::int64_t row_len = pixels + kernel_w - 1, channel_stride = kernel_rows * row_len;
  std::vector<std::int64_t> tap_offsets;
  for (std::int64_t row = 0; row < kernel_rows; ++row)
    for (std::int64_t kw = 0; kw < kernel_w; ++kw) tap_offsets.push_back(row * row_len + kw);
  const std::int64_t taps = std::int64_t(tap_offsets.size());
  std::vector<float> window(std::size_t(channels * channel_stride), 0.5f);
  std::vector<float> weights(std::size_t(channels * taps * kernel.ocb()), 0.25f);
  std::vector<float> bias(std::size_t(kernel.ocb()), 1.0f), dst(std::size_t(kernel.ocb() * pixels));
  IgemmArgs args;
  args.window = window.data();
  args.window_channel_stride = channel_stride;
  args.tap_offsets = tap_offsets.data();
  args.taps = taps;
  args.channels = channels;
  args.weights = weights.data();
  args.dst = dst.data();
  args.dst_pixel_stride = 1;
  args.dst_channel_stride = pixels;
  args.out_channels = kernel.ocb();
  args.epilogue.bias = bias.data();
  const IgemmKernelFn run = kernel.get(pixels);
  for (auto _ : state) {
    run(args);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * double(channels * taps) * double(kernel.ocb()) * double(pixels);
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

const bool registered = [] {
  for (const IgemmKernel& kernel : all_igemm_kernels()) {
    if (!isa_enabled(kernel.isa)) continue;
    std::vector<int> widths{kernel.pmax};
    if (kernel.pmax > 7) widths.push_back(7);
    for (const int pixels : widths) {
      benchmark::RegisterBenchmark(kernel.name(pixels).c_str(),
                                   [&kernel, pixels](benchmark::State& state) { run_kernel(state, kernel, pixels); })
          ->ArgNames({"C"})
          ->Arg(16)
          ->Arg(64)->Arg(256);
    }
  }
  return true;
}();

}  // namespace
}  // namespace fastconv::detail

BENCHMARK_MAIN();
