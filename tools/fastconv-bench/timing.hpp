// timing.hpp — repeat a call and summarise its wall-clock times.
//
// time_repeated() calls `run` once untimed (warm-up: page faults, caches, thread start-up),
// then times single calls with std::chrono::steady_clock until at least `min_runs` calls AND
// `min_seconds` of timed work have accumulated, stopping early only at `max_runs` calls.
// Everything the caller sets up (plans, buffers) stays outside `run`.
//
// time_interleaved() times several contestants side by side: one untimed warm-up call each,
// then rounds in which every contestant is called once in turn, so that noise from other
// processes (the cores are shared) hits all of them alike. Rounds continue until at least
// `min_runs` rounds AND contestants x `min_seconds` of timed work in total have accumulated,
// stopping early only at `max_runs` rounds.
#pragma once

#include <functional>
#include <span>
#include <vector>

namespace fastconv_bench {

struct TimingPolicy {
  double min_seconds = 0.3;
  int min_runs = 5;
  int max_runs = 50;
};

struct Timing {
  double median_ms = 0.0;
  double min_ms = 0.0;
  double max_ms = 0.0;
  int runs = 0;
  std::vector<double> samples_ms;  // every timed call, in order (time_interleaved: by round)
};

Timing time_repeated(const std::function<void()>& run, const TimingPolicy& policy);
std::vector<Timing> time_interleaved(std::span<const std::function<void()>> runs,
                                     const TimingPolicy& policy);

// Median (mean of the two middle values for an even count), minimum and maximum of samples.
Timing summarize(std::vector<double> samples_ms);

}  // namespace fastconv_bench
