// few_channels_bench.cpp — every few-channels microkernel of few_channels_kernels.inc that this CPU
// (and FASTCONV_MAX_ISA) allows, on one output row in cache: KB channels x `count` pixels from
// C * 3 * 3 taps (3x3 kernel, C = 1..4 input channels), reporting GFLOP/s (2 per multiply-add).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "isa/cpu_isa.hpp"
#include "kernels/few_channels/few_channels_kernel.hpp"

namespace fastconv::detail {
namespace {

void run_kernel(benchmark::State& state, const FewChannelsKernel& kernel) {
  const std::int64_t channels_in = state.range(0), count = state.range(1);
  const std::int64_t kernel_w = 3, rows = channels_in * 3, taps = rows * kernel_w;
  // Source rows of count + 2 pixels; taps t = (row, kw) start at row + kw.
  std::vector<float> source(std::size_t(rows * (count + kernel_w)), 0.5f);
  std::vector<const float*> tap_pointers;
  for (std::int64_t row = 0; row < rows; ++row)
    for (std::int64_t kw = 0; kw < kernel_w; ++kw)
      tap_pointers.push_back(source.data() + row * (count + kernel_w) + kw);
  std::vector<float> weights(std::size_t(taps * kernel.kb), 0.25f), bias(std::size_t(kernel.kb), 1.0f);
  std::vector<float> dst(std::size_t(kernel.kb * count));
  FewChannelsTile<float> tile;
  tile.taps = tap_pointers.data();
  tile.weights = weights.data();
  tile.tap_count = taps;
  tile.dst = dst.data();
  tile.dst_channel_stride = count;
  tile.count = count;
  tile.channels = kernel.kb;
  EpilogueParams<float> epilogue;
  epilogue.bias = bias.data();
  for (auto _ : state) {
    kernel.run(tile, epilogue);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * double(taps) * double(kernel.kb) * double(count);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

const bool registered = [] {
  for (const FewChannelsKernel& kernel : all_few_channels_kernels()) {
    if (!isa_enabled(kernel.isa)) continue;
    benchmark::RegisterBenchmark(kernel.name, [&kernel](benchmark::State& state) { run_kernel(state, kernel); })
        ->ArgNames({"C", "pixels"})
        ->Args({3, 1024})
        ->Args({4, 56})
        ->Args({4, 14})
        ->Args({1, 1024});
  }
  return true;
}();

}  // namespace
}  // namespace fastconv::detail

BENCHMARK_MAIN();
