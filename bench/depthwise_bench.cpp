// depthwise_bench.cpp — the depthwise engine's kernels per ISA that this CPU (and
// FASTCONV_MAX_ISA) allows, on typical MobileNet planes of one channel (3x3 filter, padding 1),
// reporting GFLOP/s (2 per multiply-add of the output):
//   plane_<isa>/f32:  fill (zero-padded polyphase copy) + taps + store of a whole plane;
//   taps_<isa>/f32:   the flat tap loop alone on a filled buffer;
//   direct_<isa>/f32: the copy-free masked-load kernel (AVX-512 only), stride 1;
//   rows_<isa>/f32:   the fused row kernel (3 rows of width 3, stride 1) over one 112-wide row.
// Arguments: input size H = W and stride. Everything is L1/L2-resident.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/depthwise/depthwise_direct_kernels.hpp"
#include "kernels/depthwise/depthwise_kernels.hpp"
#include "kernels/depthwise/depthwise_plane_kernels.hpp"

namespace fastconv::detail {
namespace {

void set_gflops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops_per_iteration, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

// One 3x3 channel with padding 1 at `stride`, laid out for the plane kernels.
struct PlaneProblem {
  std::int64_t size, stride, out;
  std::vector<float> src, dst, buffer, acc, weights = std::vector<float>(9, 0.25f);
  std::vector<std::int64_t> phase_row, phase_col, tap_offsets;
  PlaneLayout layout;

  PlaneProblem(std::int64_t size_, std::int64_t stride_)
      : size(size_), stride(stride_), out((size_ + 2 - 3) / stride_ + 1),
        src(std::size_t(size * size), 1.0f), dst(std::size_t(out * out)) {
    // Taps (kh, kw) read phase (kh % s, kw % s) shifted by (kh / s, kw / s).
    std::int64_t shift = 2 / stride;
    const std::int64_t pitch = out + shift, phase_rows = out + shift;
    for (std::int64_t ph = 0; ph < stride; ++ph)
      for (std::int64_t pw = 0; pw < stride; ++pw) phase_row.push_back(ph), phase_col.push_back(pw);
    for (std::int64_t kh = 0; kh < 3; ++kh)
      for (std::int64_t kw = 0; kw < 3; ++kw)
        tap_offsets.push_back(((kh % stride) * stride + kw % stride) * phase_rows * pitch +
                              (kh / stride) * pitch + kw / stride);
    layout.in_h = layout.in_w = size;
    layout.pad_h = layout.pad_w = 1;
    layout.stride_h = layout.stride_w = stride;
    layout.src_row_step = size;
    layout.src_col_step = 1;
    layout.pitch = pitch;
    layout.phase_rows = phase_rows;
    layout.phase_count = int(phase_row.size());
    layout.phase_row = phase_row.data();
    layout.phase_col = phase_col.data();
    layout.taps = 9;
    layout.tap_offsets = tap_offsets.data();
    layout.out_w = out;
    layout.dst_row_step = out;
    layout.dst_col_step = 1;
    buffer.assign(std::size_t(stride * stride * phase_rows * pitch + kPlaneSlack), 0.0f);
    acc.assign(std::size_t(out * pitch + kPlaneSlack), 0.0f);
  }
  double flops() const { return 2.0 * 9 * double(out * out); }
};

template <Isa isa>
void plane(benchmark::State& state, bool taps_only) {
  PlaneProblem p(state.range(0), state.range(1));
  const DepthwisePlaneKernels<float>& kernels = depthwise_plane_kernels<isa, float>();
  const EpilogueParams<float> epilogue;
  const std::int64_t count = (p.out - 1) * p.layout.pitch + p.out;
  kernels.fill(p.buffer.data(), p.layout, p.src.data(), 0);
  for (auto _ : state) {
    if (!taps_only) kernels.fill(p.buffer.data(), p.layout, p.src.data(), 0);
    kernels.taps(p.acc.data(), count, p.buffer.data(), p.layout, p.weights.data(), false);
    if (!taps_only) kernels.store(p.dst.data(), p.layout, p.acc.data(), p.out, epilogue, 0);
    benchmark::DoNotOptimize(p.acc.data());
    benchmark::DoNotOptimize(p.dst.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, p.flops());
}

template <Isa isa>
void direct(benchmark::State& state) {
  const std::int64_t size = state.range(0);
  const DepthwiseDirectKernel<float>& kernel = depthwise_direct_kernel<isa, float>();
  std::vector<float> src(std::size_t(size * size), 1.0f), dst(std::size_t(size * size));
  std::vector<float> weights(9, 0.25f);
  std::vector<std::int64_t> offsets;
  std::vector<std::uint16_t> masks;
  DirectLayout layout;
  layout.count = size * size;
  layout.blocks = (layout.count + kernel.lanes - 1) / kernel.lanes;
  for (std::int64_t kh = 0; kh < 3; ++kh)
    for (std::int64_t kw = 0; kw < 3; ++kw) offsets.push_back((kh - 1) * size + kw - 1);
  for (std::int64_t block = 0; block < layout.blocks; ++block) {
    for (std::int64_t kh = 0; kh < 3; ++kh) {
      for (std::int64_t kw = 0; kw < 3; ++kw) {
        std::uint16_t mask = 0;
        for (std::int64_t lane = 0; lane < kernel.lanes; ++lane) {
          const std::int64_t i = block * kernel.lanes + lane;
          const std::int64_t ih = i / size + kh - 1, iw = i % size + kw - 1;
          if (i < layout.count && ih >= 0 && ih < size && iw >= 0 && iw < size)
            mask = std::uint16_t(mask | (1u << lane));
        }
        masks.push_back(mask);
      }
    }
  }
  layout.taps = 9;
  layout.tap_offsets = offsets.data();
  layout.masks = masks.data();
  const float* slices[1] = {src.data()};
  const EpilogueParams<float> epilogue;
  for (auto _ : state) {
    kernel.run(dst.data(), slices, 1, weights.data(), layout, epilogue, 0);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, 2.0 * 9 * double(size * size));
}

template <Isa isa>
void rows(benchmark::State& state) {
  const std::int64_t count = state.range(0);
  std::vector<float> source(std::size_t(3 * (count + 2)), 1.0f);
  std::vector<float> acc(static_cast<std::size_t>(count));
  const float* src[3] = {source.data(), source.data() + count + 2, source.data() + 2 * (count + 2)};
  const float weights[3][3] = {{0.25f, 0.5f, 0.25f}, {0.5f, 1.0f, 0.5f}, {0.25f, 0.5f, 0.25f}};
  const float* w[3] = {weights[0], weights[1], weights[2]};
  const DepthwiseRowsKernel<float> kernel = depthwise_rows_kernels<isa, float>().get(3, 3, 1);
  for (auto _ : state) {
    kernel(acc.data(), src, w, count);
    benchmark::DoNotOptimize(acc.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, 2.0 * 9 * double(count));
}

template <Isa isa>
void register_isa() {
  if (!isa_enabled(isa)) return;
  const std::string suffix = std::string("_") + isa_name(isa) + "/f32";
  auto planes = [](benchmark::internal::Benchmark* b) {
    b->ArgNames({"H", "stride"})
        ->Args({112, 1})
        ->Args({112, 2})
        ->Args({56, 1})
        ->Args({28, 1})
        ->Args({14, 1})
        ->Args({7, 1});
  };
  benchmark::RegisterBenchmark(("plane" + suffix).c_str(), [](benchmark::State& s) { plane<isa>(s, false); })
      ->Apply(planes);
  benchmark::RegisterBenchmark(("taps" + suffix).c_str(), [](benchmark::State& s) { plane<isa>(s, true); })
      ->Apply(planes);
  if (depthwise_direct_kernel<isa, float>().run != nullptr)
    benchmark::RegisterBenchmark(("direct" + suffix).c_str(), [](benchmark::State& s) { direct<isa>(s); })
        ->ArgNames({"H"})
        ->Arg(56)
        ->Arg(28)
        ->Arg(14)
        ->Arg(7);
  benchmark::RegisterBenchmark(("rows" + suffix).c_str(), [](benchmark::State& s) { rows<isa>(s); })
      ->ArgNames({"W"})
      ->Arg(112)
      ->Arg(14);
}

const bool registered = [] {
  register_isa<Isa::scalar>();
  register_isa<Isa::avx2>();
  register_isa<Isa::avx512>();
  return true;
}();

}  // namespace
}  // namespace fastconv::detail

BENCHMARK_MAIN();
