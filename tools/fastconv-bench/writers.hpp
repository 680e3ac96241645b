// writers.hpp — machine-readable output of every row: a JSON list and CSV, with the same columns.
//
// result_columns() is THE column list: name and value of every column for one row, so JSON and
// CSV cannot drift apart. Columns: layer, problem, direction, op (the inner operation's catalog
// name), pad_value (text: a number, inf or -inf), input_size, input_elements, library, engine,
// engine_label, threads, outcome, message, gflop, gpairs (pair-operations / 1e9), ms_median,
// ms_min, ms_max, runs, gflops, gpairs_per_s, percent_of_peak,
// percent_of_round_peak, speedup_over_1_thread, memory_bound, percent_of_bandwidth_roofline, vs_<peer> (one per peer; peer median / this
// median), workspace_bytes, tensor_bytes, peak_rss_bytes, peak_rss_increase_bytes,
// peak_rss_exact, max_abs_error, profile_wall_ms, machine_isa, machine_peak_gflops,
// machine_bandwidth_gbs, then profile_<row>_ms for the --profile rows (phase_profile.hpp:
// packing, transforms, microkernel, epilogue, other, threading_overhead; per run).
// A number that does not apply (a ratio on a peer row, timings of a skipped row) is JSON null
// and an empty CSV field.
#pragma once

#include <ostream>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "bench.hpp"
#include "machine.hpp"

namespace fastconv_bench {

struct Column {
  std::string name;
  std::variant<std::string, double, long long, bool> value;  // NaN double: not applicable
};

// A pad value as text, since JSON numbers have no infinities: "0", "-inf", "inf", "1.5".
std::string pad_value_text(double value);

std::vector<Column> result_columns(const BenchResult& result,
                                   std::span<const std::string> peer_names,
                                   const MachineFigures& machine);

void write_json(std::ostream& out, std::span<const BenchResult> results,
                std::span<const std::string> peer_names, const MachineFigures& machine);
void write_csv(std::ostream& out, std::span<const BenchResult> results,
               std::span<const std::string> peer_names, const MachineFigures& machine);

}  // namespace fastconv_bench
