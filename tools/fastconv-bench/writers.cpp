// writers.cpp — the column list, a minimal JSON writer and an RFC 4180 CSV writer.
#include "writers.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <string_view>

namespace fastconv_bench {
namespace {

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

// Shortest text that reads back as the same double; empty for inf and nan.
std::string number_text(double value) {
  if (!std::isfinite(value)) return "";
  char text[32];
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

// A CSV field, quoted when it contains a separator, quote or line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

struct ValueText {
  bool json;
  std::string operator()(const std::string& text) const {
    return json ? json_string(text) : csv_field(text);
  }
  std::string operator()(double number) const {
    const std::string text = number_text(number);
    return json && text.empty() ? "null" : text;
  }
  std::string operator()(long long number) const { return std::to_string(number); }
  std::string operator()(bool flag) const { return flag ? "true" : "false"; }
};

}  // namespace

std::string pad_value_text(double value) {
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  return number_text(value);
}

std::vector<Column> result_columns(const BenchResult& result,
                                   std::span<const std::string> peer_names,
                                   const MachineFigures& machine) {
  const bool measured = result.outcome == Outcome::measured;
  const double not_applicable = kNotApplicable;
  auto when_measured = [&](double value) { return measured ? value : not_applicable; };
  std::vector<Column> columns = {
      {"layer", result.layer},
      {"problem", result.problem},
      {"direction", result.direction},
      {"op", result.op},
      {"pad_value", pad_value_text(result.pad_value)},
      {"input_size", (long long)result.input_size},
      {"input_elements", (long long)result.input_elements},
      {"library", result.library},
      {"engine", result.engine},
      {"engine_label", result.engine_label},
      {"threads", (long long)result.threads},
      {"output_alloc", result.output_alloc},
      {"outcome", std::string(outcome_name(result.outcome))},
      {"message", result.message},
      {"gflop", result.gflop},
      {"gpairs", result.gpairs},
      {"ms_median", when_measured(result.timing.median_ms)},
      {"ms_min", when_measured(result.timing.min_ms)},
      {"ms_max", when_measured(result.timing.max_ms)},
      {"runs", (long long)result.timing.runs},
      {"gflops", when_measured(result.gflops())},
      {"gpairs_per_s", when_measured(result.gpairs_per_s())},
      {"percent_of_peak", when_measured(result.roofline.percent_of_peak)},
      {"percent_of_round_peak", when_measured(result.roofline.percent_of_round_peak)},
      {"speedup_over_1_thread", when_measured(result.speedup_over_one_thread)},
      {"memory_bound", result.roofline.memory_bound},
      {"percent_of_bandwidth_roofline",
       measured && result.roofline.memory_bound ? result.roofline.percent_of_bandwidth_roofline
                                                : not_applicable},
  };
  for (const std::string& peer : peer_names) {
    double ratio = not_applicable;
    for (const PeerRatio& entry : result.ratios) {
      if (entry.peer == peer) ratio = entry.ratio;
    }
    columns.push_back({"vs_" + peer, ratio});
  }
  const std::vector<Column> tail = {
      {"workspace_bytes", (long long)result.workspace_bytes},
      {"tensor_bytes", (long long)result.tensor_bytes},
      {"peak_rss_bytes", (long long)result.memory.peak_bytes},
      {"peak_rss_increase_bytes", (long long)result.memory.increase_bytes},
      {"peak_rss_exact", result.memory.exact},
      {"max_abs_error", result.max_abs_error},
      {"profile_wall_ms", result.profile.present ? result.profile.wall_ms : not_applicable},
      {"machine_isa", machine.isa},
      {"machine_peak_gflops", machine.peak_gflops},
      {"machine_bandwidth_gbs", machine.bandwidth_gbs},
  };
  columns.insert(columns.end(), tail.begin(), tail.end());
  for (int row = 0; row < kProfileRows; ++row) {
    columns.push_back({"profile_" + profile_row_key(row) + "_ms",
                       result.profile.present ? result.profile.ms[row] : not_applicable});
  }
  return columns;
}

void write_json(std::ostream& out, std::span<const BenchResult> results,
                std::span<const std::string> peer_names, const MachineFigures& machine) {
  out << "[";
  const char* separator = "\n";
  for (const BenchResult& result : results) {
    out << separator << "  {";
    const char* field_separator = "";
    for (const Column& column : result_columns(result, peer_names, machine)) {
      out << field_separator << json_string(column.name) << ": "
          << std::visit(ValueText{.json = true}, column.value);
      field_separator = ", ";
    }
    out << "}";
    separator = ",\n";
  }
  out << "\n]\n";
}

void write_csv(std::ostream& out, std::span<const BenchResult> results,
               std::span<const std::string> peer_names, const MachineFigures& machine) {
  const std::vector<Column> header = result_columns(BenchResult{}, peer_names, machine);
  for (std::size_t index = 0; index < header.size(); ++index) {
    out << (index ? "," : "") << csv_field(header[index].name);
  }
  out << "\n";
  for (const BenchResult& result : results) {
    const std::vector<Column> columns = result_columns(result, peer_names, machine);
    for (std::size_t index = 0; index < columns.size(); ++index) {
      out << (index ? "," : "") << std::visit(ValueText{.json = false}, columns[index].value);
    }
    out << "\n";
  }
}

}  // namespace fastconv_bench
