// progress.hpp — a one-line progress bar on a terminal (fastconv-bench draws it on stderr).
//
// Drawn only when the stream is std::cerr and stderr is a terminal, so logs and pipes stay clean:
//   [########............] 12/30  res4_3x3 bwd_d  41 s
// start() redraws it naming the item now running; finish_item() counts it done; clear() erases
// the line (call it before printing the summary).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

namespace fastconv_bench {

class ProgressBar {
 public:
  ProgressBar(std::ostream& out, std::size_t total)
      : out_(out), total_(total), enabled_(&out == &std::cerr && isatty(STDERR_FILENO) == 1) {}

  void start(const std::string& item) {
    if (!enabled_) return;
    constexpr std::size_t kWidth = 24;
    const std::size_t filled = total_ ? done_ * kWidth / total_ : kWidth;
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    char counts[64];
    std::snprintf(counts, sizeof counts, "] %zu/%zu  ", done_, total_);
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "  %.0f s", elapsed.count());
    std::string line = "\r[" + std::string(filled, '#') + std::string(kWidth - filled, '.') +
                       counts + item.substr(0, 40) + seconds;
    const std::size_t length = line.size();
    if (length < last_length_) line += std::string(last_length_ - length, ' ');
    last_length_ = length;
    out_ << line << std::flush;
  }
  void finish_item() { ++done_; }
  void clear() {
    if (!enabled_ || last_length_ == 0) return;
    out_ << '\r' << std::string(last_length_, ' ') << '\r' << std::flush;
    last_length_ = 0;
  }

 private:
  std::ostream& out_;
  std::size_t total_;
  std::size_t done_ = 0;
  bool enabled_;
  std::size_t last_length_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace fastconv_bench
