// report.hpp — the aligned text table of results, printed row by row as results arrive.
//
// ResultTable's column widths for the layer name and problem string are fixed up front from
// the layers to be run; it has one "vs <peer>" column (peer median / fastconv median) per peer
// asked for. Memory columns are in MiB (2^20 bytes): "ws" workspace, "+RSS" the measured peak
// resident memory the row's preparation and first run added, "RSS" the process's absolute peak
// then, "tensors" src + weight + dst. "%peak" is the median GFLOP/s against the FMA peak measured
// at start-up (the best of many short bursts); "%rpk" the median over the timing rounds of the
// row's GFLOP/s against an FMA burst timed in the same round (Roofline::percent_of_round_peak),
// which follows the share of the core a shared machine gives. "%bw" (share of the bandwidth
// roofline) is shown for memory-bound layers only. With inner operations (--op), an "op" column
// after "dir" names the row's operation and "Gpairs/s" after "GFLOP/s" gives its billions of
// pair-operations (one combine + reduce) per second.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include "bench.hpp"

namespace fastconv_bench {

class ResultTable {
 public:
  // `scaling`: a "vs 1 thr" column (BenchResult::speedup_over_one_thread) after the peers'.
  // `op_width` > 0: the op column (that wide) and the Gpairs/s column.
  ResultTable(std::size_t layer_width, std::size_t problem_width,
              std::vector<std::string> peer_names, bool scaling = false, std::size_t op_width = 0);

  void print_header(std::ostream& out) const;
  // Measured results fill every column; a skipped one prints its reason after GFLOP, a failed
  // or mismatched one its message after threads.
  void print_row(std::ostream& out, const BenchResult& result) const;

 private:
  std::size_t layer_width_;
  std::size_t problem_width_;
  std::vector<std::string> peer_names_;
  bool scaling_;
  std::size_t op_width_;
};

}  // namespace fastconv_bench
