// main.cpp — fastconv-bench: times fastconv's forward convolution on an embedded suite of
// layers (see suites.cpp) with one or more engines, printing an aligned table and optionally
// a JSON list. Run with --help for the flags.
//
// Exit status: 0 every run was measured or skipped; 1 a layer failed (the other layers still
// run) or a fatal error; 2 an invalid command line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <span>
#include <string>
#include <vector>

#include "bench.hpp"
#include "cli.hpp"
#include "fastconv/threading.hpp"
#include "fastconv/version.hpp"
#include "report.hpp"
#include "suites.hpp"

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
};

int run_benchmarks(const Options& options) {
  std::ofstream json_file;
  if (!options.json_path.empty()) {
    json_file.open(options.json_path);  // opened now so a bad path fails before the long run
    if (!json_file) throw UsageError("cannot open --json file '" + options.json_path + "'");
  }
  if (options.threads) fastconv::set_num_threads(*options.threads);

  const BenchConfig config{.timing = {.min_seconds = options.min_time_seconds},
                           .reference_max_gflop = options.reference_max_gflop};
  const std::vector<Layer> layers = suite_layers(options.suite);
  std::vector<std::string> problems;
  std::size_t layer_width = 0;
  std::size_t problem_width = 0;
  for (const Layer& layer : layers) {
    problems.push_back(problem_string(layer));
    layer_width = std::max(layer_width, layer.name.size());
    problem_width = std::max(problem_width, problems.back().size());
  }

  std::cout << "fastconv-bench | fastconv " << fastconv::kVersion << " | threads "
            << fastconv::get_num_threads() << " | " << current_utc_time() << " | suite "
            << options.suite << " | engines " << engine_list(options.engines) << " | min time "
            << options.min_time_seconds << " s\n";
  const ResultTable table(layer_width, problem_width);
  table.print_header(std::cout);

  const auto start = std::chrono::steady_clock::now();
  std::vector<BenchResult> measured;
  Tally tally;
  for (std::size_t index = 0; index < layers.size(); ++index) {
    LayerBench bench(layers[index], problems[index]);
    for (fastconv::Engine engine : options.engines) {
      BenchResult result = bench.run(engine, config);
      table.print_row(std::cout, result);
      std::cout.flush();
      if (!result.warning.empty()) {
        std::cerr << "warning: " << result.layer << " (" << result.engine << "): " << result.warning
                  << '\n';
      }
      switch (result.outcome) {
        case Outcome::measured:
          ++tally.measured;
          measured.push_back(std::move(result));
          break;
        case Outcome::skipped:
          ++tally.skipped;
          break;
        case Outcome::failed:
          ++tally.failed;
          break;
      }
    }
  }
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;

  std::cout << "summary: " << count_text(layers.size(), "layer") << " x "
            << count_text(options.engines.size(), "engine") << ": " << tally.measured
            << " measured, " << tally.skipped << " skipped, " << tally.failed << " failed in "
            << seconds_text(elapsed.count());
  if (json_file.is_open()) {
    write_json(json_file, measured);
    json_file.close();
    if (!json_file) {
      std::cout << '\n';
      std::cerr << "fastconv-bench: writing '" << options.json_path << "' failed\n";
      return 1;
    }
    std::cout << "; JSON: " << options.json_path;
  }
  std::cout << '\n';
  return tally.failed > 0 ? 1 : 0;
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
