// memory.cpp — /proc/self/status and /proc/self/clear_refs readers behind PeakMemoryProbe.
#include "memory.hpp"

#include <malloc.h>
#include <sys/resource.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace fastconv_bench {
namespace {

// A "Name:   1234 kB" line of /proc/self/status, in bytes.
std::optional<std::size_t> status_field_bytes(const std::string& name) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.compare(0, name.size() + 1, name + ":") != 0) continue;
    std::istringstream fields(line.substr(name.size() + 1));
    std::size_t kilobytes = 0;
    if (fields >> kilobytes) return kilobytes * 1024;
  }
  return std::nullopt;
}

bool reset_high_water_mark() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  if (!clear_refs) return false;
  clear_refs << "5";
  clear_refs.flush();
  return bool(clear_refs);
}

std::size_t lifetime_max_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return std::size_t(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

}  // namespace

std::size_t current_rss_bytes() { return status_field_bytes("VmRSS").value_or(0); }

PeakMemoryProbe::PeakMemoryProbe()
    : reset_(reset_high_water_mark() && status_field_bytes("VmHWM").has_value()) {
  baseline_bytes_ = current_rss_bytes();
}

MemoryUse PeakMemoryProbe::finish() const {
  MemoryUse use;
  use.exact = reset_;
  use.peak_bytes = reset_ ? status_field_bytes("VmHWM").value_or(0) : lifetime_max_rss_bytes();
  use.increase_bytes = use.peak_bytes > baseline_bytes_ ? use.peak_bytes - baseline_bytes_ : 0;
  return use;
}

void return_large_allocations_to_os() {
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
}

}  // namespace fastconv_bench
