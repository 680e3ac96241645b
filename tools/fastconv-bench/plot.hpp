// plot.hpp — --plot DIR: PNG charts drawn by plot.py with /usr/bin/python3 and matplotlib.
//
// Plotter's constructor creates DIR, finds plot.py (next to the fastconv-bench executable — the
// build copies it there — or in ../share/fastconv/ of an installed one) and checks that
// /usr/bin/python3 can import matplotlib, so a missing package fails before the long run with
// a clear message (std::runtime_error). plot() writes the rows to DIR/results.json (writers.hpp)
// and runs the script, which draws:
//   speedup.png          peer median / fastconv median per layer and fastconv engine, one panel
//                        per peer (the reference engine as baseline when no peer ran);
//   runtime_vs_size.png  (--sweep) median ms against input size, log-log, per contestant;
//   memory_vs_size.png   (--sweep) tensors + measured RSS growth, and workspace, against size.
// It returns the paths of the charts written, and throws std::runtime_error on failure.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "bench.hpp"
#include "machine.hpp"

namespace fastconv_bench {

inline constexpr const char* kPlotPython = "/usr/bin/python3";

struct PlotInfo {
  int threads = 1;
  bool sweep = false;
  std::vector<std::string> peers;
};

class Plotter {
 public:
  explicit Plotter(std::filesystem::path directory);
  std::vector<std::string> plot(std::span<const BenchResult> results,
                                std::span<const std::string> peer_names,
                                const MachineFigures& machine, const PlotInfo& info) const;

 private:
  std::filesystem::path directory_;
  std::filesystem::path script_;
};

// Exit status of `program` run with `arguments` (no shell); -1 if it could not be started.
int run_program(const std::string& program, const std::vector<std::string>& arguments);

}  // namespace fastconv_bench
