// main.cpp — fastconv-bench: times fastconv's convolutions (--dir: forward, backward data,
// backward weights, transposed; --op: custom inner operations) on an embedded suite of layers
// (see suites.cpp) or given problems with one or more engines, side by side with the peers
// (PyTorch, oneDNN, PyTorch's unfold recipe) built in,
// printing the machine figures, an aligned table, optionally phase profiles (--profile), JSON /
// CSV and PNG charts (--plot, plot.cpp). A progress bar goes to stderr when it is a terminal.
// Run with --help for the flags.
//
// Exit status: 0 every run was measured or skipped; 1 a layer failed or a peer's result
// differed from fastconv's (the other layers still run), or a fatal error; 2 an invalid
// command line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bench.hpp"
#include "cli.hpp"
#include "machine.hpp"
#include "memory.hpp"
#include "peers/peer.hpp"
#include "phase_profile.hpp"
#include "plot.hpp"
#include "progress.hpp"
#include "problem_parser.hpp"
#include "fastconv/inner_op.hpp"
#include "fastconv/threading.hpp"
#include "fastconv/version.hpp"
#include "report.hpp"
#include "suites.hpp"
#include "writers.hpp"

namespace fastconv_bench {
namespace {

std::string current_utc_time() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &utc);
  return text;
}

std::string engine_list(const std::vector<fastconv::Engine>& engines) {
  std::string text;
  for (fastconv::Engine engine : engines) {
    if (!text.empty()) text += ",";
    text += fastconv::engine_name(engine);
  }
  return text;
}

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ",") + name;
  return text;
}

// The operations to time: the catalog's, each with --pad-value.
std::vector<fastconv::InnerOp> inner_ops(const Options& options) {
  std::vector<fastconv::InnerOp> ops;
  for (const std::string& name : options.ops) {
    ops.push_back(fastconv::InnerOp::catalog(name).pad_value(options.pad_value));
  }
  return ops;
}

std::string direction_list(const std::vector<Direction>& directions) {
  std::string text;
  for (Direction direction : directions) {
    if (!text.empty()) text += ",";
    text += direction_name(direction);
  }
  return text;
}

// "1 engine", "2 engines".
std::string count_text(std::size_t count, const std::string& noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", seconds);
  return text;
}

// Prints the suites (only options.suite unless it is "all") with their layers and problems.
int list_suites(const Options& options) {
  std::size_t name_width = 0;
  for (const SuiteLayer& row : suite_table()) {
    name_width = std::max(name_width, row.layer.name.size());
  }
  for (std::string_view suite : suite_names()) {
    if (options.suite != kAllSuitesName && options.suite != suite) continue;
    const std::vector<Layer> layers = suite_layers(suite);
    std::cout << suite << " (" << layers.size() << " layers)\n";
    for (const Layer& layer : layers) {
      std::cout << "  " << std::left << std::setw(int(name_width)) << layer.name << "  "
                << problem_string(layer) << '\n';
    }
  }
  if (options.suite == kAllSuitesName) {
    std::cout << kAllSuitesName << " (" << suite_table().size() << " layers): every suite above\n";
  }
  return 0;
}

struct Tally {
  int measured = 0;
  int skipped = 0;
  int failed = 0;
  int mismatched = 0;
};

// Opens an output file now, so that a bad path fails before the long run.
std::ofstream open_output(const std::string& path, const char* flag) {
  std::ofstream file;
  if (path.empty()) return file;
  file.open(path);
  if (!file) throw UsageError(std::string("cannot open ") + flag + " file '" + path + "'");
  return file;
}

// The peers to run: those asked for (default: every one built in) that this build contains.
// Prints one header line about them.
std::vector<std::unique_ptr<Peer>> select_peers(const Options& options) {
  std::vector<std::unique_ptr<Peer>> peers;
  std::string text;
  for (const KnownPeer& known : known_peers()) {
    const bool asked = options.compare ? std::find(options.compare->begin(), options.compare->end(),
                                                   known.name) != options.compare->end()
                                       : peer_on_by_default(known.name, options);
    if (!asked) continue;
    if (!text.empty()) text += ", ";
    if (known.make) {
      peers.push_back(known.make());
      text += known.name;
    } else {
      text += known.name + " unavailable (" + known.unavailable_reason + ")";
    }
  }
  std::cout << "peers: " << (text.empty() ? "none" : text) << '\n';
  return peers;
}

void print_machine(const MachineFigures& machine) {
  char text[256];
  std::snprintf(text, sizeof text,
                "machine: %s FMA peak %.1f GFLOP/s per core x %d threads = %.1f GFLOP/s | "
                "triad bandwidth %.1f GB/s | ridge point %.1f FLOP/byte\n",
                machine.isa.c_str(), machine.peak_gflops_per_core, machine.threads,
                machine.peak_gflops, machine.bandwidth_gbs, machine.ridge_flop_per_byte());
  std::cout << text;
}

// The layers of --problem / --problem-file, grown by --sweep; empty when none was given.
std::vector<ParsedProblem> given_problems(const Options& options) {
  std::vector<ParsedProblem> problems;
  try {
    for (const std::string& text : options.problems) problems.push_back(parse_problem(text));
    if (!options.problem_file.empty()) {
      for (ParsedProblem& problem : read_problem_file(options.problem_file)) {
        problems.push_back(std::move(problem));
      }
    }
    if (options.sweep) {
      std::vector<ParsedProblem> swept;
      for (const ParsedProblem& base : problems) {
        for (ParsedProblem& grown :
             sweep_problems(base.layer, options.sweep->from, options.sweep->to, options.sweep->factor)) {
          swept.push_back(std::move(grown));
        }
      }
      problems = std::move(swept);
    }
  } catch (const ProblemError& error) {
    throw UsageError(error.what());
  }
  return problems;
}

int run_benchmarks(const Options& options) {
  std::ofstream json_file = open_output(options.json_path, "--json");
  std::ofstream csv_file = open_output(options.csv_path, "--csv");
  std::optional<Plotter> plotter;
  if (!options.plot_dir.empty()) plotter.emplace(options.plot_dir);  // checks python3, matplotlib
  if (options.threads) fastconv::set_num_threads(*options.threads);
  const int threads = fastconv::get_num_threads();
  return_large_allocations_to_os();  // so that the memory probes see every large allocation

  const std::vector<ParsedProblem> given = given_problems(options);  // owns the layers' names
  const std::vector<fastconv::InnerOp> ops = inner_ops(options);
  std::vector<Layer> layers;
  if (given.empty()) {
    layers = suite_layers(options.suite);
  } else {
    for (const ParsedProblem& problem : given) layers.push_back(problem.layer);
  }
  std::vector<std::string> problems;
  std::size_t layer_width = 0;
  std::size_t problem_width = 0;
  for (const Layer& layer : layers) {
    problems.push_back(problem_string(layer));
    layer_width = std::max(layer_width, layer.name.size());
    problem_width = std::max(problem_width, problems.back().size());
  }

  std::cout << "fastconv-bench | fastconv " << fastconv::kVersion << " | threads " << threads
            << " | " << current_utc_time()
            << (given.empty() ? " | suite " + options.suite
                              : " | " + std::to_string(layers.size()) + " given problems")
            << " | dir " << direction_list(options.directions) << " | engines "
            << engine_list(options.engines) << (options.packed_weights ? " (packed weights)" : "")
            << (options.inner_ops_requested() ? " | op " + joined(options.ops) + " pad value " +
                                                    pad_value_text(options.pad_value)
                                              : "")
            << " | min time " << options.min_time_seconds << " s | "
            << (options.allocate_outputs
                    ? "output allocation: in every timed call, all sides (--alloc call)"
                    : "output allocation: none timed, all sides (--alloc none)")
            << '\n';
  const std::vector<std::unique_ptr<Peer>> peers = select_peers(options);
  std::vector<const Peer*> peer_pointers;
  std::vector<std::string> peer_names;
  for (const std::unique_ptr<Peer>& peer : peers) {
    peer_pointers.push_back(peer.get());
    peer_names.push_back(peer->name());
  }
  const MachineFigures machine = measure_machine(threads);
  print_machine(machine);

  const BenchConfig config{.timing = {.min_seconds = options.min_time_seconds},
                           .reference_max_gflop = options.reference_max_gflop,
                           .threads = threads,
                           .packed_weights = options.packed_weights,
                           .allocate_outputs = options.allocate_outputs,
                           .machine = &machine,
                           .profile = options.profile,
                           .scaling = options.scaling};
  // One untimed pass over a tiny layer first, so that one-time initialisation (thread pools,
  // kernel tables, a peer's first-call set-up) is not charged to the first row's memory.
  {
    const Layer warm_up = conv2d("warm-up", 1, 4, 8, 8, 3).pad(1);
    BenchConfig quick = config;
    quick.timing = {.min_seconds = 0.0, .min_runs = 1, .max_runs = 1};
    quick.profile = false;
    quick.scaling = false;
    for (Direction direction : options.directions) {
      for (const fastconv::InnerOp& op : ops) {
        LayerBench(warm_up, problem_string(warm_up), direction, op)
            .run(options.engines, peer_pointers, quick);
      }
    }
  }
  std::size_t op_width = 0;  // no op columns for the plain convolution's runs
  if (options.inner_ops_requested()) {
    for (const std::string& name : options.ops) op_width = std::max(op_width, name.size());
  }
  const ResultTable table(layer_width, problem_width, peer_names, options.scaling && threads > 1,
                          op_width);
  table.print_header(std::cout);

  const auto start = std::chrono::steady_clock::now();
  std::vector<BenchResult> all_results;
  Tally tally;
  ProgressBar progress(std::cerr, layers.size() * options.directions.size() * ops.size());
  for (std::size_t index = 0; index < layers.size(); ++index) {
    for (Direction direction : options.directions) {
      for (const fastconv::InnerOp& op : ops) {
        progress.start(std::string(layers[index].name) + " " + direction_name(direction) +
                       (options.inner_ops_requested() ? " " + std::string(op.table().name) : ""));
        LayerBench bench(layers[index], problems[index], direction, op);
        std::vector<BenchResult> results = bench.run(options.engines, peer_pointers, config);
        progress.finish_item();
        progress.clear();  // the rows go to the same terminal
        for (const BenchResult& result : results) {
          table.print_row(std::cout, result);
          if (!result.warning.empty()) {
            std::cerr << "warning: " << result.layer << " (" << result.engine << "): "
                      << result.warning << '\n';
          }
          switch (result.outcome) {
            case Outcome::measured: ++tally.measured; break;
            case Outcome::skipped: ++tally.skipped; break;
            case Outcome::failed: ++tally.failed; break;
            case Outcome::mismatch: ++tally.mismatched; break;
          }
        }
        for (const BenchResult& result : results) {
          if (!result.profile.present) continue;
          print_profile(std::cout,
                        result.layer + " " + result.direction +
                            (options.inner_ops_requested() ? " " + result.op : "") + " " +
                            result.engine_label + " (" + result.problem + ")",
                        result.profile);
        }
        for (BenchResult& result : results) all_results.push_back(std::move(result));
        std::cout.flush();
      }
    }
  }
  progress.clear();
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;

  std::cout << "summary: " << count_text(layers.size(), "layer") << " x "
            << count_text(options.directions.size(), "direction") << " x "
            << (options.inner_ops_requested() ? count_text(ops.size(), "op") + " x " : "")
            << count_text(options.engines.size(), "engine") << " + "
            << count_text(peers.size(), "peer") << ": " << tally.measured << " measured, "
            << tally.skipped << " skipped, " << tally.failed << " failed, " << tally.mismatched
            << " mismatched in " << seconds_text(elapsed.count());
  bool write_failed = false;
  if (json_file.is_open()) {
    write_json(json_file, all_results, peer_names, machine);
    json_file.close();
    write_failed |= !json_file;
    std::cout << "; JSON: " << options.json_path;
  }
  if (csv_file.is_open()) {
    write_csv(csv_file, all_results, peer_names, machine);
    csv_file.close();
    write_failed |= !csv_file;
    std::cout << "; CSV: " << options.csv_path;
  }
  std::cout << '\n';
  if (plotter) {
    const PlotInfo info{.threads = threads, .sweep = options.sweep.has_value(), .peers = peer_names};
    for (const std::string& chart : plotter->plot(all_results, peer_names, machine, info)) {
      std::cout << "chart: " << chart << '\n';
    }
  }
  if (write_failed) {
    std::cerr << "fastconv-bench: writing the --json or --csv file failed\n";
    return 1;
  }
  return tally.failed > 0 || tally.mismatched > 0 ? 1 : 0;
}

}  // namespace
}  // namespace fastconv_bench

int main(int argc, char** argv) {
  using namespace fastconv_bench;
  try {
    const char* const* arguments = argv + (argc > 0 ? 1 : 0);
    const Options options = parse_command_line({arguments, std::size_t(argc > 0 ? argc - 1 : 0)});
    if (options.help) {
      std::cout << usage_text();
      return 0;
    }
    if (options.list_suites) return list_suites(options);
    return run_benchmarks(options);
  } catch (const UsageError& error) {
    std::cerr << "fastconv-bench: " << error.what() << "\nTry 'fastconv-bench --help'.\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "fastconv-bench: fatal: " << error.what() << '\n';
    return 1;
  }
}
