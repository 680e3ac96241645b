// report.hpp — output of results: the aligned text table and the JSON record list.
//
// ResultTable prints one row per (layer, engine) as soon as it is known, so its column widths
// for the layer name and problem string are fixed up front from the layers to be run.
// write_json() writes a JSON array with one object per measured result, keys: layer, problem,
// engine, threads, gflop, ms_median, ms_min, ms_max, gflops, workspace_bytes.
#pragma once

#include <cstddef>
#include <ostream>
#include <span>

#include "bench.hpp"

namespace fastconv_bench {

class ResultTable {
 public:
  ResultTable(std::size_t layer_width, std::size_t problem_width);

  void print_header(std::ostream& out) const;
  // Measured results fill every column; a skipped one prints its reason after GFLOP, a failed
  // one its error after threads.
  void print_row(std::ostream& out, const BenchResult& result) const;

 private:
  std::size_t layer_width_;
  std::size_t problem_width_;
};

void write_json(std::ostream& out, std::span<const BenchResult> measured);

}  // namespace fastconv_bench
