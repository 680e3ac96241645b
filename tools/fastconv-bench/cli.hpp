// cli.hpp — fastconv-bench's command line.
//
// parse_command_line() accepts "--flag value" and "--flag=value"; a repeated flag keeps its last
// value. It only parses and validates (suite, engine and operation names, number ranges); it
// has no side effects. Anything invalid throws UsageError, whose message main() prints before
// exiting with status 2.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "direction.hpp"
#include "fastconv/engine.hpp"

namespace fastconv_bench {

// The peers --compare accepts (peers/peer_registry.cpp says which ones are built in).
inline constexpr std::string_view kPeerNames[] = {"torch",          "torch_cl",
                                                  "onednn",         "onednn_blocked",
                                                  "onednn_winograd", "torch_unfold"};

// The reference engine (about 0.2 GFLOP/s) is skipped above this many GFLOP by default.
inline constexpr double kDefaultReferenceMaxGflop = 0.3;

// --sweep FROM:TO[:FACTOR]: each given problem with its spatial size grown geometrically.
struct SweepSpec {
  std::int64_t from = 0;
  std::int64_t to = 0;
  double factor = 2.0;
};

struct Options {
  std::string suite = "all";
  std::vector<std::string> problems;  // --problem (repeatable): benchdnn-style strings
  std::string problem_file;           // --problem-file: one problem per line
  std::optional<SweepSpec> sweep;     // applied to the --problem / --problem-file problems
  bool list_suites = false;
  bool help = false;
  std::vector<fastconv::Engine> engines{fastconv::Engine::automatic};  // what a user gets
  std::vector<Direction> directions{Direction::forward};  // --dir
  bool profile = false;                                   // --profile
  std::string plot_dir;                                   // --plot; empty: no charts
  std::optional<int> threads;  // unset: the library's default
  std::string json_path;       // empty: no JSON output
  std::string csv_path;        // empty: no CSV output
  // --op: inner operations, names from fastconv::InnerOp::catalog_names(), in the given order.
  std::vector<std::string> ops{"mul_sum"};
  bool ops_given = false;
  double pad_value = 0.0;  // --pad-value: what the operations' padded positions read as
  bool pad_value_given = false;
  // unset: the peers on by default (peer_on_by_default) that are built in; {}: none
  std::optional<std::vector<std::string>> compare;
  double min_time_seconds = 0.3;
  bool packed_weights = false;
  // --alloc call (true, the default): every side allocates its output inside each timed call,
  // as a user's call does; --alloc none (false): no side does (outputs allocated before timing).
  bool allocate_outputs = true;
  bool scaling = false;  // --scaling: fastconv also at 1 thread, in the same rounds
  double reference_max_gflop = kDefaultReferenceMaxGflop;

  // --op or --pad-value given: the table gets the op and Gpairs/s columns. Without either, the
  // run (peers, table) is the plain convolution's as before inner operations existed.
  bool inner_ops_requested() const { return ops_given || pad_value_given; }
};

// Whether a peer runs when --compare is not given (and it is built in): torch, torch_cl, onednn,
// onednn_blocked and onednn_winograd always; torch_unfold (the unfold recipe) only when
// inner_ops_requested(), since on the plain convolution's suites its broadcast temporaries take
// gigabytes.
bool peer_on_by_default(std::string_view peer, const Options& options);

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `arguments` excludes the program name.
Options parse_command_line(std::span<const char* const> arguments);

std::string usage_text();

}  // namespace fastconv_bench
