// fma_peak.hpp — the register-resident multiply-add loop that measures a core's float32 peak.
//
// run_fma_loop<isa>(iterations) runs `iterations` rounds of acc = acc * scale + offset on
// kFmaAccumulators independent SIMD accumulators (more than FMA latency x FMA ports, so the
// loop is throughput-bound, and few enough to stay in registers even with AVX2's 16) and returns
// the floating-point operations executed (2 per lane per multiply-add). One translation unit per
// ISA (fma_peak_isa.cpp.in), compiled with that ISA's flags and -ffp-contract=fast.
#pragma once

#include <cstdint>

#include "isa/cpu_isa.hpp"

namespace fastconv_bench {

inline constexpr int kFmaAccumulators = 12;

template <fastconv::detail::Isa isa>
double run_fma_loop(std::int64_t iterations);

}  // namespace fastconv_bench
