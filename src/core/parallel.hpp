// parallel.hpp — how many threads a piece of work deserves.
//
// Small work runs on one thread: a parallel region costs microseconds, and when the machine is
// oversubscribed a thread waiting at a barrier for a descheduled peer can cost milliseconds.
#pragma once

#include <algorithm>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "fastconv/threading.hpp"

namespace fastconv::detail {

// Work units (multiply-adds or element copies) below which an extra thread does not pay.
inline constexpr double kMinWorkPerThread = 1 << 16;

inline int threads_for_work(double work) {
  const int useful = work < kMinWorkPerThread ? 1 : int(std::min(work / kMinWorkPerThread, 1e6));
  return std::max(1, std::min(get_num_threads(), useful));
}

// Per-thread workspace slots: one per processor, so that a plan made before set_num_threads()
// raised the thread count still has room (runs never use more threads than slots).
inline int workspace_slots() {
#if defined(_OPENMP)
  return std::max(1, omp_get_num_procs());
#else
  return 1;
#endif
}

}  // namespace fastconv::detail
