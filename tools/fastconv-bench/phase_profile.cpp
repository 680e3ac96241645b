// phase_profile.cpp — turning a profiler Report into per-run table rows, and printing them.
#include "phase_profile.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace fastconv_bench {
namespace {

namespace profile = fastconv::profile;
constexpr int kOther = int(profile::Phase::other);
constexpr int kOverhead = profile::kPhaseCount;

double compute_seconds(const profile::ThreadPhases& thread) {
  double seconds = 0.0;
  for (int phase = 0; phase < kOther; ++phase) seconds += thread.seconds[phase];
  return seconds;
}

}  // namespace

const char* profile_row_name(int row) {
  return row == kOverhead ? "threading overhead" : profile::phase_name(profile::Phase(row));
}

std::string profile_row_key(int row) {
  return row == kOverhead ? "threading_overhead" : profile::phase_name(profile::Phase(row));
}

PhaseProfile summarize_profile(const profile::Report& report) {
  PhaseProfile result;
  if (report.runs == 0) return result;
  const double per_run_ms = 1e3 / double(report.runs);
  result.present = true;
  result.runs = int(report.runs);
  result.threads = int(report.threads.size());
  result.wall_ms = report.run_seconds * per_run_ms;

  const profile::ThreadPhases* busiest = nullptr;
  for (const profile::ThreadPhases& thread : report.threads) {
    if (!busiest || compute_seconds(thread) > compute_seconds(*busiest)) busiest = &thread;
    for (int phase = 0; phase < profile::kPhaseCount; ++phase) {
      result.all_threads_ms[phase] += thread.seconds[phase] * per_run_ms;
      result.calls[phase] += double(thread.calls[phase]) / double(report.runs);
    }
  }
  double accounted = 0.0;
  for (int phase = 0; phase < kOther; ++phase) {
    result.ms[phase] = busiest ? busiest->seconds[phase] * per_run_ms : 0.0;
    accounted += result.ms[phase];
  }
  result.ms[kOther] = result.all_threads_ms[kOther];
  accounted += result.ms[kOther];
  result.ms[kOverhead] = std::max(0.0, result.wall_ms - accounted);
  result.all_threads_ms[kOverhead] = std::nan("");
  result.calls[kOverhead] = std::nan("");
  return result;
}

void print_profile(std::ostream& out, const std::string& title, const PhaseProfile& profile) {
  char line[160];
  std::snprintf(line, sizeof line, "profile: %s | %d runs, %d thread%s, %.3f ms/run\n",
                title.c_str(), profile.runs, profile.threads, profile.threads == 1 ? "" : "s",
                profile.wall_ms);
  out << line;
  std::snprintf(line, sizeof line, "  %-20s %10s %8s %12s %16s\n", "phase", "ms/run", "% run",
                "calls/run", "all threads ms");
  out << line;
  double total = 0.0;
  for (int row = 0; row < kProfileRows; ++row) {
    const double percent = profile.wall_ms > 0.0 ? 100.0 * profile.ms[row] / profile.wall_ms : 0.0;
    char calls[32] = "-", all[32] = "-";
    if (!std::isnan(profile.calls[row])) std::snprintf(calls, sizeof calls, "%.1f", profile.calls[row]);
    if (!std::isnan(profile.all_threads_ms[row])) {
      std::snprintf(all, sizeof all, "%.3f", profile.all_threads_ms[row]);
    }
    std::snprintf(line, sizeof line, "  %-20s %10.3f %8.1f %12s %16s\n", profile_row_name(row),
                  profile.ms[row], percent, calls, all);
    out << line;
    total += profile.ms[row];
  }
  std::snprintf(line, sizeof line, "  %-20s %10.3f %8.1f\n", "total", total,
                profile.wall_ms > 0.0 ? 100.0 * total / profile.wall_ms : 0.0);
  out << line;
}

}  // namespace fastconv_bench
