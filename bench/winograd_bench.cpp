// winograd_bench.cpp — every Winograd F(2,3) transform entry of winograd_kernels.inc that this CPU
// (and FASTCONV_MAX_ISA) allows: the input transform of C rows of W columns (padding 1 on each
// side, as for a 3-wide kernel; window rows padded to 16 tiles, as the engine lays them out) and
// the output transform of 32 channels x 14 tiles (one microkernel call's products) into NCHW
// rows (64-byte aligned, as the engine's). Reports GB/s of values written (4 floats per tile in; 2 per tile out) and GFLOP/s of the
// transforms' additions (4 per tile in; 6 per tile out, with the bias).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "isa/cpu_isa.hpp"
#include "kernels/winograd/winograd_kernels.hpp"

namespace fastconv::detail {
namespace {

void run_input(benchmark::State& state, const WinogradTransforms& entry) {
  const std::int64_t width = state.range(0), rows = 64;
  const std::int64_t tiles = (width + 1) / 2, row_stride = (tiles + 15) / 16 * 16;
  const std::int64_t e_stride = rows * row_stride;
  std::vector<float> input(std::size_t(rows * width), 0.5f), memory(std::size_t(4 * e_stride + 16));
  float* window = memory.data() + (16 - reinterpret_cast<std::uintptr_t>(memory.data()) / sizeof(float) % 16) % 16;
  alignas(64) float check[2 * kWinogradCheckLanes] = {};
  for (auto _ : state) {
    for (std::int64_t r = 0; r < rows; ++r)
      entry.input_row(input.data() + r * width, 1, -1, width, tiles, window + r * row_stride, e_stride, check);
    benchmark::DoNotOptimize(check);
    benchmark::ClobberMemory();
  }
  const double bytes = 4.0 * sizeof(float) * double(rows * tiles), flops = 4.0 * double(rows * tiles);
  state.counters["GB/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

void run_output(benchmark::State& state, const WinogradTransforms& entry) {
  const std::int64_t channels = 32, pixels = 14, stride = 16, width = 2 * pixels;
  std::vector<float> products(std::size_t(4 * channels * stride), 0.25f), bias(std::size_t(channels), 1.0f);
  std::vector<float> out(std::size_t(channels * width));
  for (auto _ : state) {
    entry.output(products.data(), channels * stride, stride, channels, pixels, width, bias.data(), out.data(), width, 1);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  const double bytes = sizeof(float) * double(channels * width), flops = 6.0 * double(channels * pixels);
  state.counters["GB/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

const bool registered = [] {
  for (const WinogradTransforms& entry : all_winograd_transforms()) {
    if (!isa_enabled(entry.isa)) continue;
    benchmark::RegisterBenchmark((entry.name() + "_input").c_str(),
                                 [&entry](benchmark::State& state) { run_input(state, entry); })
        ->ArgNames({"W"})
        ->Arg(28)
        ->Arg(56)
        ->Arg(112)
        ->Arg(1000);
    benchmark::RegisterBenchmark((entry.name() + "_output").c_str(),
                                 [&entry](benchmark::State& state) { run_output(state, entry); });
  }
  return true;
}();

}  // namespace
}  // namespace fastconv::detail

BENCHMARK_MAIN();
