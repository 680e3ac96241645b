// timing.cpp — the measurement loop and its statistics.
#include "timing.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

namespace fastconv_bench {

Timing time_repeated(const std::function<void()>& run, const TimingPolicy& policy) {
  using Clock = std::chrono::steady_clock;
  run();  // warm-up, not timed

  std::vector<double> samples_ms;
  double total_seconds = 0.0;
  while (int(samples_ms.size()) < policy.max_runs &&
         (int(samples_ms.size()) < policy.min_runs || total_seconds < policy.min_seconds)) {
    const Clock::time_point start = Clock::now();
    run();
    const std::chrono::duration<double> elapsed = Clock::now() - start;
    total_seconds += elapsed.count();
    samples_ms.push_back(elapsed.count() * 1e3);
  }
  return summarize(std::move(samples_ms));
}

std::vector<Timing> time_interleaved(std::span<const std::function<void()>> runs,
                                     const TimingPolicy& policy) {
  using Clock = std::chrono::steady_clock;
  for (const std::function<void()>& run : runs) run();  // warm-up, not timed

  std::vector<std::vector<double>> samples_ms(runs.size());
  const double total_seconds_wanted = policy.min_seconds * double(runs.size());
  double total_seconds = 0.0;
  int rounds = 0;
  while (!runs.empty() && rounds < policy.max_runs &&
         (rounds < policy.min_runs || total_seconds < total_seconds_wanted)) {
    for (std::size_t index = 0; index < runs.size(); ++index) {
      const Clock::time_point start = Clock::now();
      runs[index]();
      const std::chrono::duration<double> elapsed = Clock::now() - start;
      total_seconds += elapsed.count();
      samples_ms[index].push_back(elapsed.count() * 1e3);
    }
    ++rounds;
  }
  std::vector<Timing> timings;
  for (std::vector<double>& samples : samples_ms) timings.push_back(summarize(std::move(samples)));
  return timings;
}

Timing summarize(std::vector<double> samples_ms) {
  Timing timing;
  timing.runs = int(samples_ms.size());
  timing.samples_ms = samples_ms;
  if (samples_ms.empty()) return timing;
  std::sort(samples_ms.begin(), samples_ms.end());
  const std::size_t middle = samples_ms.size() / 2;
  timing.median_ms = samples_ms.size() % 2 == 1
                         ? samples_ms[middle]
                         : 0.5 * (samples_ms[middle - 1] + samples_ms[middle]);
  timing.min_ms = samples_ms.front();
  timing.max_ms = samples_ms.back();
  return timing;
}

}  // namespace fastconv_bench
