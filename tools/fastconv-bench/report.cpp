// report.cpp — table formatting and a minimal JSON writer (strings, integers, doubles).
#include "report.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <string>
#include <string_view>

namespace fastconv_bench {
namespace {

// Widths of the fixed columns.
constexpr int kEngineWidth = 12;  // "auto(im2col)"
constexpr int kThreadsWidth = 7;
constexpr int kGflopWidth = 9;
constexpr int kMillisecondsWidth = 11;
constexpr int kGflopsWidth = 9;
constexpr int kWorkspaceWidth = 14;

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string json_string(std::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '\t':
        quoted += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned char>(c));
          quoted += escaped;
        } else {
          quoted += c;
        }
    }
  }
  return quoted + "\"";
}

// Shortest text that reads back as the same double; JSON has no inf or nan, so those are null.
std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char text[32];
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

}  // namespace

ResultTable::ResultTable(std::size_t layer_width, std::size_t problem_width)
    : layer_width_(std::max<std::size_t>(layer_width, 5)),
      problem_width_(std::max<std::size_t>(problem_width, 7)) {}

void ResultTable::print_header(std::ostream& out) const {
  out << std::left << std::setw(int(layer_width_)) << "layer"
      << "  " << std::setw(int(problem_width_)) << "problem"
      << "  " << std::setw(kEngineWidth) << "engine" << std::right << std::setw(kThreadsWidth)
      << "threads" << std::setw(kGflopWidth) << "GFLOP" << std::setw(kMillisecondsWidth)
      << "median ms" << std::setw(kGflopsWidth) << "GFLOP/s" << std::setw(kWorkspaceWidth)
      << "workspace B" << '\n';
}

void ResultTable::print_row(std::ostream& out, const BenchResult& result) const {
  out << std::left << std::setw(int(layer_width_)) << result.layer << "  "
      << std::setw(int(problem_width_)) << result.problem << "  " << std::setw(kEngineWidth)
      << result.engine_label << std::right << std::setw(kThreadsWidth) << result.threads;
  if (result.outcome == Outcome::failed) {
    out << "  error: " << result.message << '\n';
    return;
  }
  out << std::setw(kGflopWidth) << fixed(result.gflop, 4);
  if (result.outcome == Outcome::skipped) {
    out << "  " << result.message << '\n';
    return;
  }
  out << std::setw(kMillisecondsWidth) << fixed(result.timing.median_ms, 3)
      << std::setw(kGflopsWidth) << fixed(result.gflops(), 2) << std::setw(kWorkspaceWidth)
      << result.workspace_bytes << '\n';
}

void write_json(std::ostream& out, std::span<const BenchResult> measured) {
  out << "[";
  const char* separator = "\n";
  for (const BenchResult& result : measured) {
    out << separator << "  {\"layer\": " << json_string(result.layer)
        << ", \"problem\": " << json_string(result.problem)
        << ", \"engine\": " << json_string(result.engine) << ", \"threads\": " << result.threads
        << ", \"gflop\": " << json_number(result.gflop)
        << ", \"ms_median\": " << json_number(result.timing.median_ms)
        << ", \"ms_min\": " << json_number(result.timing.min_ms)
        << ", \"ms_max\": " << json_number(result.timing.max_ms)
        << ", \"gflops\": " << json_number(result.gflops())
        << ", \"workspace_bytes\": " << result.workspace_bytes << "}";
    separator = ",\n";
  }
  out << "\n]\n";
}

}  // namespace fastconv_bench
