// parallel.hpp — how many threads a piece of work deserves.
//
// The library's thread count (get_num_threads) is read once per run, by the plan, and capped
// by the threads the prepared run's workspace was sized for; engines then split that budget
// with threads_for_work. Small work runs on one thread: a parallel region costs microseconds,
// and when the machine is oversubscribed a thread waiting at a barrier for a descheduled peer
// can cost milliseconds.
#pragma once

#include <algorithm>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "fastconv/threading.hpp"

namespace fastconv::detail {

// Work units (multiply-adds or element copies) below which an extra thread does not pay.
inline constexpr double kMinWorkPerThread = 1 << 16;

// Of `budget` threads, how many `work` deserves (at least 1).
inline int threads_for_work(double work, int budget) {
  const int useful = work < kMinWorkPerThread ? 1 : int(std::min(work / kMinWorkPerThread, 1e6));
  return std::max(1, std::min(budget, useful));
}

// The threads a plan prepares for: enough for get_num_threads() now and for every processor
// this process may run on, so that raising set_num_threads() later up to the processor count
// still runs at full width. A run never gets more (run_threads).
inline int prepared_max_threads() {
#if defined(_OPENMP)
  return std::max({1, get_num_threads(), omp_get_num_procs()});
#else
  return 1;
#endif
}

// Runs body() as `#pragma omp parallel num_threads(threads)` would, except that a team of one
// outside any active parallel region runs body() directly on the calling thread: libgomp's
// start and end of even a one-thread team cost about 1.5 us (a futex system call), as much as
// a small convolution. Inside body(), thread_index(), team_size() and orphaned `omp for` loops
// and barriers behave as in a region of one thread either way.
template <typename Body>
void parallel_team(int threads, Body&& body) {
#if defined(_OPENMP)
  if (threads > 1 || omp_in_parallel()) {
#pragma omp parallel num_threads(threads)
    body();
    return;
  }
#endif
  body();
}

// The threads one run may use: the library's thread count now, capped by the plan's.
inline int run_threads(int max_threads) { return std::clamp(get_num_threads(), 1, std::max(1, max_threads)); }

// This thread's index in the current parallel region and the region's size (OpenMP may give a
// region fewer threads than asked, e.g. when it is nested in another).
inline int thread_index() {
#if defined(_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}
inline int team_size() {
#if defined(_OPENMP)
  return omp_get_num_threads();
#else
  return 1;
#endif
}

}  // namespace fastconv::detail
