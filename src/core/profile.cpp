// core/profile.cpp — per-thread phase counters and the public fastconv::profile functions.
//
// Each thread that records gets a ThreadProfile on first use, owned by a global registry (so it
// outlives the thread and snapshot() can read it); the thread keeps a thread_local pointer to it.
#include "core/profile.hpp"

#include <chrono>
#include <memory>
#include <mutex>

namespace fastconv::detail {

std::atomic<bool> profiling_enabled{false};

struct ThreadProfile {
  std::int64_t nanoseconds[profile::kPhaseCount] = {};
  std::uint64_t calls[profile::kPhaseCount] = {};
  int current_phase = -1;        // innermost open scope's phase, -1 if none
  std::int64_t current_since = 0;  // when the innermost open scope (re)started counting
};

namespace {

std::mutex registry_mutex;
std::vector<std::unique_ptr<ThreadProfile>>& registry() {
  static std::vector<std::unique_ptr<ThreadProfile>> profiles;
  return profiles;
}

std::atomic<std::uint64_t> run_count{0};
std::atomic<std::int64_t> run_nanoseconds{0};

std::int64_t clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

ThreadProfile& this_thread_profile() {
  thread_local ThreadProfile* mine = [] {
    const std::lock_guard<std::mutex> lock(registry_mutex);
    registry().push_back(std::make_unique<ThreadProfile>());
    return registry().back().get();
  }();
  return *mine;
}

}  // namespace

void ProfileScope::begin(Phase phase) {
  ThreadProfile& record = this_thread_profile();
  const std::int64_t now = clock_ns();
  if (record.current_phase >= 0) record.nanoseconds[record.current_phase] += now - record.current_since;
  outer_phase_ = record.current_phase;
  record.current_phase = int(phase);
  record.current_since = now;
  ++record.calls[int(phase)];
  record_ = &record;
}

void ProfileScope::end() {
  const std::int64_t now = clock_ns();
  record_->nanoseconds[record_->current_phase] += now - record_->current_since;
  record_->current_phase = outer_phase_;
  record_->current_since = now;
}

std::int64_t RunTimer::now_ns() { return clock_ns(); }

void RunTimer::finish() {
  run_nanoseconds.fetch_add(clock_ns() - start_ns_, std::memory_order_relaxed);
  run_count.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace fastconv::detail

namespace fastconv::profile {

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::packing: return "packing";
    case Phase::transforms: return "transforms";
    case Phase::microkernel: return "microkernel";
    case Phase::epilogue: return "epilogue";
    case Phase::other: return "other";
  }
  return "?";
}

void set_enabled(bool enabled) { detail::profiling_enabled.store(enabled); }
bool enabled() { return detail::profiling_enabled.load(); }

void reset() {
  const std::lock_guard<std::mutex> lock(detail::registry_mutex);
  for (auto& record : detail::registry()) {
    const int open_phase = record->current_phase;  // normally -1: no run in progress
    *record = {};
    record->current_phase = open_phase;
    record->current_since = detail::clock_ns();
  }
  detail::run_count.store(0);
  detail::run_nanoseconds.store(0);
}

double ThreadPhases::total_seconds() const {
  double total = 0.0;
  for (double value : seconds) total += value;
  return total;
}

Report snapshot() {
  Report report;
  report.runs = detail::run_count.load();
  report.run_seconds = double(detail::run_nanoseconds.load()) * 1e-9;
  const std::lock_guard<std::mutex> lock(detail::registry_mutex);
  for (const auto& record : detail::registry()) {
    ThreadPhases phases;
    bool any = false;
    for (int phase = 0; phase < kPhaseCount; ++phase) {
      phases.seconds[phase] = double(record->nanoseconds[phase]) * 1e-9;
      phases.calls[phase] = record->calls[phase];
      any |= record->calls[phase] > 0;
    }
    if (any) report.threads.push_back(phases);
  }
  return report;
}

}  // namespace fastconv::profile
