// gemm_bench.cpp — every GEMM microkernel of src/gemm/gemm_kernels.inc that this CPU (and
// FASTCONV_MAX_ISA) allows, reporting GFLOP/s (2 per multiply-add):
//   <kernel>/micro:   the microkernel alone on L1-resident packed panels (one MR x NR tile over
//                     depth kc, the kernel's own cache block), C stored unit-stride;
//   <kernel>/blocked: the packed, cache-blocked driver gemm() with that kernel at a few sizes
//                     (M x N x K = a conv layer's K x pixels x C*k*k), on one thread.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "fastconv/threading.hpp"
#include "gemm/gemm.hpp"
#include "isa/cpu_isa.hpp"

namespace fastconv::detail {
namespace {

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

template <typename T>
std::unique_ptr<T[], AlignedFree> aligned_array(std::int64_t count, T value) {
  const std::size_t bytes = (std::size_t(count) * sizeof(T) + 63) / 64 * 64;
  auto array = std::unique_ptr<T[], AlignedFree>(static_cast<T*>(std::aligned_alloc(64, bytes)));
  for (std::int64_t i = 0; i < count; ++i) array[std::size_t(i)] = value;
  return array;
}

void set_gflops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops_per_iteration, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

template <typename T>
void microkernel(benchmark::State& state, const GemmKernel<T>& kernel) {
  const std::int64_t kc = kernel.kc;
  auto packed_a = aligned_array<T>(kc * kernel.mr, T(0.5));
  auto packed_b = aligned_array<T>(kc * kernel.nr, T(0.25));
  auto c = aligned_array<T>(std::int64_t(kernel.mr) * kernel.nr, T(0));
  for (auto _ : state) {
    kernel.run(kc, packed_a.get(), packed_b.get(), c.get(), kernel.nr, 1, true, nullptr);
    benchmark::DoNotOptimize(c.get());
    benchmark::ClobberMemory();
  }
  set_gflops(state, 2.0 * double(kc) * kernel.mr * kernel.nr);
}

template <typename T>
void blocked(benchmark::State& state, const GemmKernel<T>& kernel) {
  const std::int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  set_num_threads(1);
  auto a = aligned_array<T>(m * k, T(0.5));
  auto b = aligned_array<T>(k * n, T(0.25));
  auto c = aligned_array<T>(m * n, T(0));
  // The driver's packing buffers for this kernel's blocks (kc x (mc + nc)), with room to spare.
  const std::int64_t mc = (kernel.mc + kernel.mr) / kernel.mr * kernel.mr;
  const std::int64_t nc = (kernel.nc + kernel.nr) / kernel.nr * kernel.nr;
  const std::int64_t workspace_elements =
      std::max<std::int64_t>(kernel.kc * (mc + nc) + 1024,
                             std::int64_t(gemm_workspace_bytes<T>(m, n, k, fastconv::get_num_threads()) / sizeof(T)) + 1024);
  auto workspace = aligned_array<T>(workspace_elements, T(0));
  const MatrixView<const T> a_view{a.get(), k, 1}, b_view{b.get(), n, 1};
  const MatrixView<T> c_view{c.get(), n, 1};
  for (auto _ : state) {
    gemm<T>(m, n, k, a_view, b_view, c_view, false, nullptr, workspace.get(), fastconv::get_num_threads(), &kernel);
    benchmark::DoNotOptimize(c.get());
    benchmark::ClobberMemory();
  }
  set_gflops(state, 2.0 * double(m) * double(n) * double(k));
}

template <typename T>
void register_kernels() {
  for (const GemmKernel<T>& kernel : all_gemm_kernels<T>()) {
    if (!isa_enabled(Isa(kernel.isa))) continue;
    const std::string name = kernel.name;
    benchmark::RegisterBenchmark((name + "/micro").c_str(),
                                 [&kernel](benchmark::State& state) { microkernel(state, kernel); });
    benchmark::RegisterBenchmark((name + "/blocked").c_str(),
                                 [&kernel](benchmark::State& state) { blocked(state, kernel); })
        ->ArgNames({"M", "N", "K"})
        ->Args({64, 3136, 576})     // ResNet-50 res2 3x3: 64 filters, 56x56 pixels, 64*9 depth
        ->Args({256, 784, 1152})    // res3-like: more filters, fewer pixels
        ->Args({512, 196, 4608})    // res4/5-like: deep reduction
        ->Args({100, 100, 100});    // sizes that are no multiple of any tile
  }
}

const bool registered = [] {
  register_kernels<float>();
  register_kernels<double>();
  return true;
}();

}  // namespace
}  // namespace fastconv::detail

BENCHMARK_MAIN();
