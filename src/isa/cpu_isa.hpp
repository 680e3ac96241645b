// cpu_isa.hpp — which instruction set the library's kernels may use on this CPU.
//
// The CPU is probed once. FASTCONV_MAX_ISA=avx512|avx2|scalar caps the level, so tests and CI
// run every kernel path on one machine (like oneDNN's ONEDNN_MAX_CPU_ISA).
#pragma once

namespace fastconv::detail {

// Ordered: a level includes everything below it. `scalar` is portable C++ (the compiler
// vectorises it for the baseline ISA); avx2 means AVX2 + FMA; avx512 means AVX-512F.
enum class Isa { scalar = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
Isa detected_isa();  // what the CPU and OS support
Isa active_isa();    // detected_isa() capped by FASTCONV_MAX_ISA; throws on a bad value
inline bool isa_enabled(Isa isa) { return int(isa) <= int(active_isa()); }

}  // namespace fastconv::detail
