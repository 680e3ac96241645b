// phase_profile.hpp — --profile: one fastconv row's time split by phase, from the library's
// profiler (fastconv/profile.hpp), per run, and its profiler-style table.
//
// Rows of the table, which add up to the wall time of a run:
//   packing, transforms, microkernel, epilogue   the BUSIEST thread's time in each (the thread
//                                                with the most time in these four phases: the
//                                                critical path of the parallel work);
//   other                                        ConvPlan::run's argument checks and workspace
//                                                allocation (calling thread);
//   threading overhead                           the rest of the wall time: starting and joining
//                                                parallel regions, barriers, waiting for other
//                                                threads, and engine code between instrumented
//                                                scopes (clamped at 0).
// "all threads ms" sums each phase over every thread; "calls" counts scopes entered on every
// thread, per run.
#pragma once

#include <ostream>
#include <string>

#include "fastconv/profile.hpp"

namespace fastconv_bench {

// Table rows: the library's phases, then threading overhead.
inline constexpr int kProfileRows = fastconv::profile::kPhaseCount + 1;
const char* profile_row_name(int row);  // "packing", ..., "other", "threading overhead"
// JSON / CSV column suffix: "packing", ..., "other", "threading_overhead".
std::string profile_row_key(int row);

struct PhaseProfile {
  bool present = false;
  int runs = 0;            // profiled runs
  int threads = 0;         // threads that recorded a phase
  double wall_ms = 0.0;    // per run
  double ms[kProfileRows] = {};              // per run, the rows above
  double all_threads_ms[kProfileRows] = {};  // per run, summed over threads (NaN for overhead)
  double calls[kProfileRows] = {};           // per run, every thread (NaN for overhead)
};

PhaseProfile summarize_profile(const fastconv::profile::Report& report);

// "profile: <title> | N runs, T threads, W ms/run" then the table.
void print_profile(std::ostream& out, const std::string& title, const PhaseProfile& profile);

}  // namespace fastconv_bench
