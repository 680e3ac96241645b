// core/profile.hpp — the library's side of fastconv/profile.hpp: RAII scopes the engines put
// around per-tile / per-block work.
//
//   { ProfileScope scope(Phase::microkernel); kernel.run(...); }
//
// Disabled, a scope is one load of a global flag and one predictable branch (plus a test of a
// member in the destructor). Enabled, it reads a steady clock on entry and exit and charges the
// time to the calling thread's counters; an enclosing scope on the same thread is paused
// meanwhile, so phase times are exclusive. RunTimer records the wall time of one ConvPlan::run.
#pragma once

#include <atomic>
#include <cstdint>

#include "fastconv/profile.hpp"

namespace fastconv::detail {

using profile::Phase;

extern std::atomic<bool> profiling_enabled;

struct ThreadProfile;  // per-thread counters, defined in profile.cpp

class ProfileScope {
 public:
  explicit ProfileScope(Phase phase) {
    if (profiling_enabled.load(std::memory_order_relaxed)) [[unlikely]] begin(phase);
  }
  ~ProfileScope() {
    if (record_) [[unlikely]] end();
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  void begin(Phase phase);
  void end();
  ThreadProfile* record_ = nullptr;
  int outer_phase_ = -1;  // the phase paused by this scope, -1 if none
};

class RunTimer {
 public:
  RunTimer() {
    if (profiling_enabled.load(std::memory_order_relaxed)) [[unlikely]] start_ns_ = now_ns();
  }
  ~RunTimer() {
    if (start_ns_ >= 0) [[unlikely]] finish();
  }
  RunTimer(const RunTimer&) = delete;
  RunTimer& operator=(const RunTimer&) = delete;

 private:
  static std::int64_t now_ns();
  void finish();
  std::int64_t start_ns_ = -1;
};

}  // namespace fastconv::detail
