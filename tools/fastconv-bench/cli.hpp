// cli.hpp — fastconv-bench's command line.
//
// parse_command_line() accepts "--flag value" and "--flag=value"; a repeated flag keeps its last
// value. It only parses and validates (suite and engine names, number ranges); it has no side
// effects. Anything invalid throws UsageError, whose message main() prints before exiting
// with status 2.
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
inline constexpr std::string_view kPeerNames[] = {"torch", "onednn"};

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
  std::vector<fastconv::Engine> engines{fastconv::Engine::im2col, fastconv::Engine::reference};
  std::vector<Direction> directions{Direction::forward};  // --dir
  bool profile = false;                                   // --profile
  std::string plot_dir;                                   // --plot; empty: no charts
  std::optional<int> threads;  // unset: the library's default
  std::string json_path;       // empty: no JSON output
  std::string csv_path;        // empty: no CSV output
  std::optional<std::vector<std::string>> compare;  // unset: every peer built in; {}: none
  double min_time_seconds = 0.3;
  bool packed_weights = false;
  bool scaling = false;  // --scaling: fastconv also at 1 thread, in the same rounds
  double reference_max_gflop = kDefaultReferenceMaxGflop;
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `arguments` excludes the program name.
Options parse_command_line(std::span<const char* const> arguments);

std::string usage_text();

}  // namespace fastconv_bench
