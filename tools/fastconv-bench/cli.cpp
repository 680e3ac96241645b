// cli.cpp — the argument parser and the --help text.
#include "cli.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <sstream>
#include <string_view>

#include "fastconv/error.hpp"
#include "fastconv/inner_op.hpp"
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

// One engine name, a comma-separated list of them (in the given order), or "all".
std::vector<fastconv::Engine> parse_engines(std::string_view text) {
  if (text == "all") return {std::begin(fastconv::kAllEngines), std::end(fastconv::kAllEngines)};
  std::vector<fastconv::Engine> engines;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view name = text.substr(0, comma);
    fastconv::Engine engine = fastconv::Engine::automatic;
    try {
      engine = fastconv::parse_engine(name);
    } catch (const fastconv::Error&) {
      throw UsageError("--engine expects " + engine_choices() +
                       " or a comma-separated list of engines, got '" + std::string(name) + "'");
    }
    if (std::find(engines.begin(), engines.end(), engine) == engines.end()) engines.push_back(engine);
    if (comma == text.npos) break;
    text.remove_prefix(comma + 1);
  }
  return engines;
}

// "torch,onednn" (any subset, in the given order) or "none".
std::vector<std::string> parse_peers(std::string_view text) {
  std::vector<std::string> peers;
  if (text == "none") return peers;
  std::string choices = "none";
  for (std::string_view name : kPeerNames) choices += "|" + std::string(name);
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view name = text.substr(0, comma);
    if (std::find(std::begin(kPeerNames), std::end(kPeerNames), name) == std::end(kPeerNames)) {
      throw UsageError("--compare expects a comma-separated list of " + choices + ", got '" +
                       std::string(name) + "'");
    }
    if (std::find(peers.begin(), peers.end(), name) == peers.end()) peers.emplace_back(name);
    if (comma == text.npos) break;
    text.remove_prefix(comma + 1);
  }
  return peers;
}

// "fwd,bwd_d,bwd_w,transposed" (any subset, in the given order) or "all".
std::vector<Direction> parse_directions(std::string_view text) {
  if (text == "all") return {std::begin(kAllDirections), std::end(kAllDirections)};
  std::string choices;
  for (Direction direction : kAllDirections) choices += std::string(direction_name(direction)) + ",";
  choices += " or all";
  std::vector<Direction> directions;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view name = text.substr(0, comma);
    const std::optional<Direction> direction = parse_direction_name(name);
    if (!direction) {
      throw UsageError("--dir expects a comma-separated list of " + choices + ", got '" +
                       std::string(name) + "'");
    }
    if (std::find(directions.begin(), directions.end(), *direction) == directions.end()) {
      directions.push_back(*direction);
    }
    if (comma == text.npos) break;
    text.remove_prefix(comma + 1);
  }
  return directions;
}

// "mul_sum, abs_diff_sum, ...": the library's catalog.
std::string catalog_list() {
  std::string text;
  for (const std::string& name : fastconv::InnerOp::catalog_names()) {
    text += (text.empty() ? "" : ", ") + name;
  }
  return text;
}

// `text` broken at spaces into lines of at most `width` characters, each indented by `indent`
// spaces and ending in a newline.
std::string wrapped(const std::string& text, std::size_t indent, std::size_t width) {
  std::string lines, line;
  std::istringstream words(text);
  for (std::string word; words >> word;) {
    if (!line.empty() && indent + line.size() + 1 + word.size() > width) {
      lines += std::string(indent, ' ') + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return line.empty() ? lines : lines + std::string(indent, ' ') + line + "\n";
}

// Catalog operation names, comma-separated (in the given order), or "all" (the whole catalog).
std::vector<std::string> parse_ops(std::string_view text) {
  const std::vector<std::string> catalog = fastconv::InnerOp::catalog_names();
  if (text == "all") return catalog;
  std::vector<std::string> ops;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string name(text.substr(0, comma));
    if (std::find(catalog.begin(), catalog.end(), name) == catalog.end()) {
      throw UsageError("--op expects a comma-separated list of the catalog's operations (" +
                       catalog_list() + ") or all, got '" + name + "'");
    }
    if (std::find(ops.begin(), ops.end(), name) == ops.end()) ops.push_back(name);
    if (comma == text.npos) break;
    text.remove_prefix(comma + 1);
  }
  return ops;
}

// A number, inf or -inf (a leading + allowed); not NaN.
double parse_pad_value(std::string_view text) {
  const std::string_view digits = text.starts_with('+') ? text.substr(1) : text;
  const std::optional<double> value =
      digits.starts_with('-') && text.starts_with('+') ? std::nullopt : parse_number<double>(digits);
  if (!value || std::isnan(*value)) {
    throw UsageError("--pad-value expects a number, inf or -inf, got '" + std::string(text) + "'");
  }
  return *value;
}

// "FROM:TO" or "FROM:TO:FACTOR" (sizes >= 1, FROM <= TO, FACTOR > 1).
SweepSpec parse_sweep(std::string_view text) {
  const std::string what = "--sweep expects FROM:TO[:FACTOR] (e.g. 16:2048 or 16:2048:2), got '" +
                           std::string(text) + "'";
  SweepSpec sweep;
  std::string copy(text);
  std::size_t used = 0;
  try {
    sweep.from = std::stoll(copy, &used);
    if (used >= copy.size() || copy[used] != ':') throw UsageError(what);
    copy.erase(0, used + 1);
    sweep.to = std::stoll(copy, &used);
    if (used < copy.size()) {
      if (copy[used] != ':') throw UsageError(what);
      copy.erase(0, used + 1);
      sweep.factor = std::stod(copy, &used);
      if (used != copy.size()) throw UsageError(what);
    }
  } catch (const std::logic_error&) {  // stoll / stod: no number or out of range
    throw UsageError(what);
  }
  if (sweep.from < 1 || sweep.to < sweep.from || !(sweep.factor > 1.0)) throw UsageError(what);
  return sweep;
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
    // A non-empty path (`what`: "file name" or "directory name").
    auto path_value = [&](const char* what) {
      std::string path(value());
      if (path.empty()) throw UsageError(std::string(flag) + " expects a " + what);
      return path;
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
      options.json_path = path_value("file name");
    } else if (flag == "--csv") {
      options.csv_path = path_value("file name");
    } else if (flag == "--op") {
      options.ops = parse_ops(value());
      options.ops_given = true;
    } else if (flag == "--pad-value") {
      options.pad_value = parse_pad_value(value());
      options.pad_value_given = true;
    } else if (flag == "--compare") {
      options.compare = parse_peers(value());
    } else if (flag == "--problem") {
      options.problems.emplace_back(value());
    } else if (flag == "--problem-file") {
      options.problem_file = path_value("file name");
    } else if (flag == "--sweep") {
      options.sweep = parse_sweep(value());
    } else if (flag == "--alloc") {
      const std::string_view mode = value();
      if (mode != "call" && mode != "none") {
        throw UsageError("--alloc expects call or none, got '" + std::string(mode) + "'");
      }
      options.allocate_outputs = mode == "call";
    } else if (flag == "--packed-weights") {
      reject_value();
      options.packed_weights = true;
    } else if (flag == "--dir") {
      options.directions = parse_directions(value());
    } else if (flag == "--scaling") {
      reject_value();
      options.scaling = true;
    } else if (flag == "--profile") {
      reject_value();
      options.profile = true;
    } else if (flag == "--plot") {
      options.plot_dir = path_value("directory name");
    } else if (flag == "--min-time") {
      options.min_time_seconds = parse_non_negative("--min-time", value());
    } else if (flag == "--reference-max-gflop") {
      options.reference_max_gflop = parse_non_negative("--reference-max-gflop", value());
    } else {
      throw UsageError("unknown argument '" + std::string(arguments[index]) + "'");
    }
  }
  if (options.sweep && options.problems.empty() && options.problem_file.empty()) {
    throw UsageError("--sweep grows the size of the problems given with --problem or "
                     "--problem-file; give at least one");
  }
  return options;
}

bool peer_on_by_default(std::string_view peer, const Options& options) {
  return peer != "torch_unfold" || options.inner_ops_requested();
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
      "Times fastconv's convolutions (--dir), or custom convolutions with another inner\n"
      "operation (--op), on the layers of an embedded suite or given problems, side by side\n"
      "with peer libraries (PyTorch through libtorch, oneDNN, PyTorch's unfold recipe) on the\n"
      "same float32 NCHW buffers, each peer's result checked against fastconv's before it\n"
      "is timed. At start it measures the FMA peak of the ISA in use and the memory\n"
      "bandwidth. Per layer, direction, operation and engine or peer it prints: median / min /\n"
      "max ms, GFLOP/s, % of peak (%peak: the start-up peak; %rpk: median per round against\n"
      "an FMA burst timed in the same round), % of the bandwidth roofline (memory-bound\n"
      "layers), peer median / fastconv median, workspace, and the measured peak resident\n"
      "memory the layer needed; with --op also the operation and Gpairs/s. Timing: one\n"
      "warm-up run each, then rounds running every contestant and the FMA burst once in turn,\n"
      "until 5 rounds and --min-time seconds per contestant (at most 50 rounds); medians\n"
      "reported.\n"
      "\n"
      "options:\n"
      "  --suite NAME               ";
  text += joined_suite_names();
  text +=
      " (default: all)\n"
      "  --list-suites              print the suites and their layers, then exit\n"
      "  --problem STRING           a layer as a benchdnn-style string instead of a suite, e.g.\n"
      "                             mb1ic64ih56oc64oh56kh3ph1 (repeatable; 1-D: iw.., 3-D: id..)\n"
      "  --problem-file PATH        layers from a file, one problem string per line, # comments\n"
      "  --sweep FROM:TO[:FACTOR]   each given problem with its spatial size FROM, FROM*FACTOR,\n"
      "                             ... up to TO (default factor 2), e.g. --sweep 16:2048\n"
      "  --dir LIST                 directions, comma-separated: fwd (forward), bwd_d (backward\n"
      "                             data), bwd_w (backward weights), transposed; or all\n"
      "                             (default: fwd). Problems always describe the FORWARD layer;\n"
      "                             transposed takes the forward layer's output (N,K,out..) as\n"
      "                             its input and the same weight buffer, read as the transposed\n"
      "                             layout (K, C/g, k..), and produces the forward input size\n"
      "  --engine LIST              engines, comma-separated (or all) of\n"
      "                             " + engine_choices() + "\n"
      "                             (default: auto, the engine the library picks)\n"
      "  --op LIST                  inner operations, comma-separated (or all) of the catalog\n"
      "                             (fastconv/inner_op.hpp):\n" +
      wrapped(catalog_list(), 29, 88) +
      "                             (default: mul_sum, the convolution). Each layer, direction\n"
      "                             and op gets its own rows; engines and peers that cannot\n"
      "                             compute an op skip it with their reason (ops other than\n"
      "                             mul_sum have no transposed form; torch and onednn compute\n"
      "                             only the convolution). Their gradients (bwd_d, bwd_w) also\n"
      "                             read the forward's x or w: random buffers of their own.\n"
      "                             Adds the columns op and Gpairs/s: billions of pair-ops\n"
      "                             (one combine + reduce) per second, the same count\n"
      "                             N*K*out*(C/groups)*kernel for every op (GFLOP/s / 2)\n"
      "  --pad-value V              what padded input positions read as for the ops (default\n"
      "                             0; inf and -inf accepted). Max-plus dilation (add_max)\n"
      "                             usually pads with -inf, min-plus erosion (sub_min) with\n"
      "                             inf. mul_sum with a non-zero pad value is a custom op\n"
      "  --compare LIST             peers: comma-separated torch,torch_cl,onednn,\n"
      "                             onednn_blocked,onednn_winograd,torch_unfold or none\n"
      "                             (default: every peer this build contains; torch_unfold\n"
      "                             only with --op or --pad-value). torch: at::conv*d /\n"
      "                             convolution_backward on NCHW tensors under NoGradGuard;\n"
      "                             torch_cl: the same on channels_last tensors (converted\n"
      "                             before timing; no 1-D form). onednn: oneDNN's direct\n"
      "                             convolution from NCHW buffers, its reorders to and from its\n"
      "                             blocked layouts in every call; onednn_blocked: the same\n"
      "                             primitive as a oneDNN-native network runs it, inputs and\n"
      "                             weights reordered once before timing, output left in its\n"
      "                             layout; onednn_winograd: the same with\n"
      "                             convolution_winograd, skipped with the reason where oneDNN\n"
      "                             has none. Blocked outputs are reordered to NCHW for the\n"
      "                             check, outside the timed call. torch_unfold is the unfold\n"
      "                             recipe PyTorch users write for custom ops: pad, sliding\n"
      "                             windows (Tensor::unfold), broadcast combine with the\n"
      "                             weights, reduce over the window; its bwd_d / bwd_w rows use\n"
      "                             autograd and are timed as forward + backward, since a user\n"
      "                             of the recipe cannot skip the forward. Skipped: the\n"
      "                             gradient rows of abs_diff_sum_adder (autograd gives the true\n"
      "                             gradient, not AdderNet's surrogate), and with an infinite pad\n"
      "                             value the bwd_w rows of mul_max and mul_logsumexp\n"
      "                             (autograd's 0 * inf = NaN where the op's term adds nothing)\n"
      "  --reference-max-gflop G    skip the reference engine on layers above G GFLOP\n"
      "                             (default: " + format_number(kDefaultReferenceMaxGflop) +
      "; 'inf' never skips)\n"
      "  --threads N                library threads (default: the library's default)\n"
      "  --min-time SECONDS         minimum timed work per measurement (default: 0.3)\n"
      "  --packed-weights           fastconv plans pack the weights once (inference); torch\n"
      "                             and onednn still reorder theirs on every call, as F.conv2d\n"
      "                             does (onednn_blocked and onednn_winograd never do)\n"
      "  --alloc call|none          call (default): every side (fastconv and each peer)\n"
      "                             allocates the memory of its output inside each timed call,\n"
      "                             as a user's call does; none: no side does (outputs\n"
      "                             allocated before timing and reused; torch, which has no\n"
      "                             out= for convolutions, gets a CPU allocator that reuses\n"
      "                             freed blocks). fastconv's workspace and oneDNN's\n"
      "                             scratchpad are allocated once before timing either way.\n"
      "                             The header says which\n"
      "  --scaling                  with --threads N > 1: also time each fastconv engine at 1\n"
      "                             thread, interleaved in the same rounds, and print its\n"
      "                             speedup at N threads over 1 thread (column 'vs 1 thr')\n"
      "  --profile                  after timing, run each fastconv engine again with the\n"
      "                             library's phase profiler on and print where the time goes\n"
      "                             (packing, transforms, microkernel, epilogue, other,\n"
      "                             threading overhead) as a table per layer and engine\n"
      "  --plot DIR                 write PNG charts into DIR (created if missing) with\n"
      "                             /usr/bin/python3 and matplotlib: speedup.png (a panel per\n"
      "                             peer), and for --sweep runtime_vs_size.png and\n"
      "                             memory_vs_size.png (log-log);\n"
      "                             the rows go to DIR/results.json\n"
      "  --json FILE                also write every row as a JSON list of objects\n"
      "  --csv FILE                 also write every row as CSV (same columns)\n"
      "  --help, -h                 print this help\n"
      "\n"
      "Exit status: 0 success, 1 a layer failed or a peer's result differed from fastconv's,\n"
      "2 invalid command line.\n";
  return text;
}

}  // namespace fastconv_bench
