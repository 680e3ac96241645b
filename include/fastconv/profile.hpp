// fastconv/profile.hpp — where a convolution's time goes: a phase profiler built into the library.
//
// When enabled, every engine records the time each thread spends in each phase:
//   packing      rearranging operands for a microkernel (GEMM panels, weight packing);
//   transforms   im2col / col2im, window copies, padding, layout copies;
//   microkernel  the compute kernels, including any epilogue fused into them (bias, activation);
//   epilogue     separate passes after the kernels (bias fill, bias gradient) where an engine
//                has one;
//   other        ConvPlan::run's own work on the calling thread: argument checks, workspace
//                allocation.
// Scopes do not overlap: a phase opened inside another pauses the outer one, so a thread's
// phase times never add up to more than the time it spent in runs. The library also records the
// wall time of every ConvPlan::run (on the calling thread).
//
// Instrumentation sits around per-tile / per-block work, never per element. Disabled (the
// default) it costs one predictable branch per scope. Enabled, it costs two clock reads per
// scope. Counters are per thread; reset() and snapshot() must not race with running plans.
//
// Typical use (fastconv-bench --profile does this):
//   fastconv::profile::reset();
//   fastconv::profile::set_enabled(true);
//   for (int i = 0; i < runs; ++i) plan.run(args, workspace);
//   fastconv::profile::set_enabled(false);
//   const fastconv::profile::Report report = fastconv::profile::snapshot();
#pragma once

#include <cstdint>
#include <vector>

namespace fastconv::profile {

enum class Phase : int { packing, transforms, microkernel, epilogue, other };
inline constexpr int kPhaseCount = 5;
const char* phase_name(Phase phase);  // "packing", "transforms", ...

void set_enabled(bool enabled);
bool enabled();
// Zeroes every counter (phases and run totals).
void reset();

// What one thread recorded since the last reset().
struct ThreadPhases {
  double seconds[kPhaseCount] = {};
  std::uint64_t calls[kPhaseCount] = {};  // scopes entered
  double total_seconds() const;           // all phases
};

struct Report {
  std::uint64_t runs = 0;    // ConvPlan::run calls that finished while enabled
  double run_seconds = 0.0;  // their summed wall time
  std::vector<ThreadPhases> threads;  // every thread that recorded a phase
};

Report snapshot();

}  // namespace fastconv::profile
