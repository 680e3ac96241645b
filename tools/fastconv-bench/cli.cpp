// cli.cpp — the argument parser and the --help text.
#include "cli.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <sstream>
#include <string_view>

#include "fastconv/error.hpp"
#include "suites.hpp"

namespace fastconv_bench {
namespace {

std::string joined_suite_names() {
  std::string text;
  for (std::string_view name : suite_names()) text += std::string(name) + "|";
  return text + std::string(kAllSuitesName);
}

// Parses the whole of `text` as a number of type T; nullopt if any character is left over.
template <typename T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end) return std::nullopt;
  return value;
}

int parse_threads(std::string_view text) {
  const std::optional<long long> value = parse_number<long long>(text);
  if (!value || *value < 1 || *value > std::numeric_limits<int>::max()) {
    throw UsageError("--threads expects an integer >= 1, got '" + std::string(text) + "'");
  }
  return int(*value);
}

double parse_non_negative(std::string_view flag, std::string_view text) {
  const std::optional<double> value = parse_number<double>(text);
  if (!value || std::isnan(*value) || *value < 0.0) {
    throw UsageError(std::string(flag) + " expects a number >= 0, got '" + std::string(text) + "'");
  }
  return *value;
}

// "auto|reference|im2col|...|all", from the library's engine list.
std::string engine_choices() {
  std::string choices;
  for (fastconv::Engine engine : fastconv::kAllEngines) choices += std::string(fastconv::engine_name(engine)) + "|";
  return choices + "all";
}

std::vector<fastconv::Engine> parse_engines(std::string_view text) {
  if (text == "all") return {std::begin(fastconv::kAllEngines), std::end(fastconv::kAllEngines)};
  try {
    return {fastconv::parse_engine(text)};
  } catch (const fastconv::Error&) {
    throw UsageError("--engine expects " + engine_choices() + ", got '" + std::string(text) + "'");
  }
}

}  // namespace

Options parse_command_line(std::span<const char* const> arguments) {
  Options options;
  for (std::size_t index = 0; index < arguments.size(); ++index) {
    std::string_view flag = arguments[index];
    std::optional<std::string_view> inline_value;
    if (const std::size_t equals = flag.find('='); flag.starts_with("--") && equals != flag.npos) {
      inline_value = flag.substr(equals + 1);
      flag = flag.substr(0, equals);
    }
    // The flag's value: after '=' or the next argument.
    auto value = [&]() -> std::string_view {
      if (inline_value) return *inline_value;
      if (index + 1 >= arguments.size()) {
        throw UsageError(std::string(flag) + " expects a value");
      }
      return arguments[++index];
    };
    auto reject_value = [&] {
      if (inline_value) throw UsageError(std::string(flag) + " takes no value");
    };

    if (flag == "--help" || flag == "-h") {
      reject_value();
      options.help = true;
    } else if (flag == "--list-suites") {
      reject_value();
      options.list_suites = true;
    } else if (flag == "--suite") {
      options.suite = value();
      if (!is_suite_name(options.suite)) {
        throw UsageError("unknown suite '" + options.suite + "' (expected " + joined_suite_names() +
                         ")");
      }
    } else if (flag == "--engine") {
      options.engines = parse_engines(value());
    } else if (flag == "--threads") {
      options.threads = parse_threads(value());
    } else if (flag == "--json") {
      options.json_path = value();
      if (options.json_path.empty()) throw UsageError("--json expects a file name");
    } else if (flag == "--min-time") {
      options.min_time_seconds = parse_non_negative("--min-time", value());
    } else if (flag == "--reference-max-gflop") {
      options.reference_max_gflop = parse_non_negative("--reference-max-gflop", value());
    } else {
      throw UsageError("unknown argument '" + std::string(arguments[index]) + "'");
    }
  }
  return options;
}

static std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

std::string usage_text() {
  std::string text =
      "usage: fastconv-bench [options]\n"
      "\n"
      "Times fastconv's forward convolution on the layers of an embedded suite and prints,\n"
      "per layer and engine: problem, threads, GFLOP, median ms, GFLOP/s, workspace bytes.\n"
      "Each measurement: one warm-up run, then runs until both --min-time seconds and 5 runs\n"
      "have elapsed (at most 50 runs); the median is reported.\n"
      "\n"
      "options:\n"
      "  --suite NAME               ";
  text += joined_suite_names();
  text +=
      " (default: all)\n"
      "  --list-suites              print the suites and their layers, then exit\n"
      "  --engine NAME              " + engine_choices() + "\n"
      "                             (default: im2col,reference)\n"
      "  --reference-max-gflop G    skip the reference engine on layers above G GFLOP\n"
      "                             (default: " + format_number(kDefaultReferenceMaxGflop) +
      "; 'inf' never skips)\n"
      "  --threads N                library threads (default: the library's default)\n"
      "  --min-time SECONDS         minimum timed work per measurement (default: 0.3)\n"
      "  --json FILE                also write the measurements as a JSON list\n"
      "  --help, -h                 print this help\n"
      "\n"
      "Exit status: 0 success, 1 a layer failed, 2 invalid command line.\n";
  return text;
}

}  // namespace fastconv_bench
