// report.cpp — table formatting.
#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <utility>

namespace fastconv_bench {
namespace {

// Widths of the fixed columns.
constexpr int kDirectionWidth = 10;  // "transposed"
constexpr int kEngineWidth = 18;  // "auto(implicit_gemm)"
constexpr int kThreadsWidth = 4;
constexpr int kGflopWidth = 9;
constexpr int kMillisecondsWidth = 10;
constexpr int kGflopsWidth = 9;
constexpr int kPercentWidth = 7;
constexpr int kRatioWidth = 11;
constexpr int kMegabytesWidth = 9;

std::string fixed(double value, int decimals) {
  if (std::isnan(value)) return "-";
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// "1.23x", or "-" when not measured (NaN).
std::string ratio_text(double ratio) { return std::isnan(ratio) ? "-" : fixed(ratio, 2) + "x"; }

std::string mebibytes(std::size_t bytes) { return fixed(double(bytes) / double(1 << 20), 1); }

// The "vs <peer>" column: kRatioWidth, or wider for a long peer name ("vs torch_unfold").
int ratio_width(const std::string& peer) { return std::max(kRatioWidth, int(peer.size()) + 4); }

}  // namespace

ResultTable::ResultTable(std::size_t layer_width, std::size_t problem_width,
                         std::vector<std::string> peer_names, bool scaling, std::size_t op_width)
    : layer_width_(std::max<std::size_t>(layer_width, 5)),
      problem_width_(std::max<std::size_t>(problem_width, 7)),
      peer_names_(std::move(peer_names)),
      scaling_(scaling),
      op_width_(op_width == 0 ? 0 : std::max<std::size_t>(op_width, 2)) {}

void ResultTable::print_header(std::ostream& out) const {
  out << std::left << std::setw(int(layer_width_)) << "layer"
      << "  " << std::setw(int(problem_width_)) << "problem"
      << "  " << std::setw(kDirectionWidth) << "dir";
  if (op_width_) out << "  " << std::setw(int(op_width_)) << "op";
  out << "  " << std::setw(kEngineWidth) << "engine" << std::right << std::setw(kThreadsWidth)
      << "thr" << std::setw(kGflopWidth) << "GFLOP" << std::setw(kMillisecondsWidth) << "median ms"
      << std::setw(kMillisecondsWidth) << "min ms" << std::setw(kMillisecondsWidth) << "max ms"
      << std::setw(kGflopsWidth) << "GFLOP/s";
  if (op_width_) out << std::setw(kGflopsWidth) << "Gpairs/s";
  out << std::setw(kPercentWidth) << "%peak"
      << std::setw(kPercentWidth) << "%rpk" << std::setw(kPercentWidth) << "%bw";
  for (const std::string& peer : peer_names_) out << std::setw(ratio_width(peer)) << "vs " + peer;
  if (scaling_) out << std::setw(kRatioWidth) << "vs 1 thr";
  out << std::setw(kMegabytesWidth) << "ws MiB" << std::setw(kMegabytesWidth) << "+RSS MiB"
      << std::setw(kMegabytesWidth) << "RSS MiB" << std::setw(kMegabytesWidth + 3)
      << "tensors MiB" << '\n';
}

void ResultTable::print_row(std::ostream& out, const BenchResult& result) const {
  out << std::left << std::setw(int(layer_width_)) << result.layer << "  "
      << std::setw(int(problem_width_)) << result.problem << "  " << std::setw(kDirectionWidth)
      << result.direction;
  if (op_width_) out << "  " << std::setw(int(op_width_)) << result.op;
  out << "  " << std::setw(kEngineWidth) << result.engine_label << std::right
      << std::setw(kThreadsWidth) << result.threads;
  if (result.outcome == Outcome::failed || result.outcome == Outcome::mismatch) {
    out << "  " << (result.outcome == Outcome::failed ? "error: " : "") << result.message << '\n';
    return;
  }
  out << std::setw(kGflopWidth) << fixed(result.gflop, 4);
  if (result.outcome == Outcome::skipped) {
    out << "  " << result.message << '\n';
    return;
  }
  const Roofline& roof = result.roofline;
  out << std::setw(kMillisecondsWidth) << fixed(result.timing.median_ms, 3)
      << std::setw(kMillisecondsWidth) << fixed(result.timing.min_ms, 3)
      << std::setw(kMillisecondsWidth) << fixed(result.timing.max_ms, 3)
      << std::setw(kGflopsWidth) << fixed(result.gflops(), 2);
  if (op_width_) out << std::setw(kGflopsWidth) << fixed(result.gpairs_per_s(), 2);
  out << std::setw(kPercentWidth) << fixed(roof.percent_of_peak, 1) << std::setw(kPercentWidth)
      << fixed(roof.percent_of_round_peak, 1)
      << std::setw(kPercentWidth) << (roof.memory_bound ? fixed(roof.percent_of_bandwidth_roofline, 1) : "-");
  for (const std::string& peer : peer_names_) {
    double ratio = std::nan("");
    for (const PeerRatio& entry : result.ratios) {
      if (entry.peer == peer) ratio = entry.ratio;
    }
    out << std::setw(ratio_width(peer)) << ratio_text(ratio);
  }
  if (scaling_) out << std::setw(kRatioWidth) << ratio_text(result.speedup_over_one_thread);
  out << std::setw(kMegabytesWidth) << mebibytes(result.workspace_bytes)
      << std::setw(kMegabytesWidth) << mebibytes(result.memory.increase_bytes)
      << std::setw(kMegabytesWidth) << mebibytes(result.memory.peak_bytes)
      << std::setw(kMegabytesWidth + 3) << mebibytes(result.tensor_bytes) << '\n';
}

}  // namespace fastconv_bench
