// memory.hpp — measured resident memory (RSS) of the process around a piece of work.
//
// PeakMemoryProbe resets the kernel's resident high-water mark (writing "5" to
// /proc/self/clear_refs) and records the current RSS when constructed; finish() reads VmHWM from
// /proc/self/status and reports the absolute peak and its increase over that baseline. Where
// the reset is not possible (no /proc, or it is read-only) the probe falls back to getrusage's
// ru_maxrss, a lifetime maximum that cannot be reset: `exact` is then false and the increase is
// only a lower bound.
//
// RSS counts pages actually touched. glibc's malloc reuses freed heap memory and raises its
// mmap threshold after large frees, which would hide allocations from the probe;
// return_large_allocations_to_os() fixes the threshold so large blocks are always fresh mmaps
// returned on free (the benchmark calls it once at start-up).
#pragma once

#include <cstddef>

namespace fastconv_bench {

struct MemoryUse {
  std::size_t peak_bytes = 0;      // absolute resident high-water mark of the process
  std::size_t increase_bytes = 0;  // peak_bytes minus the RSS when the probe started
  bool exact = false;              // false: getrusage fallback, the increase is a lower bound
};

class PeakMemoryProbe {
 public:
  PeakMemoryProbe();
  MemoryUse finish() const;

 private:
  std::size_t baseline_bytes_ = 0;
  bool reset_ = false;
};

std::size_t current_rss_bytes();  // VmRSS; 0 when unknown
void return_large_allocations_to_os();

}  // namespace fastconv_bench
