// problem_parser.cpp — benchdnn-style problem strings, problem files and size sweeps to Layers.
//
// parse_problem() works in three steps: read the keys into a Descriptor (optional values, one per
// key), complete the spatial axes (benchdnn's square/cubic rules), then compute each axis (output
// size or deduced padding) and check the whole layer. Every error goes through fail(), which
// quotes the whole string.
#include "problem_parser.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <utility>

namespace fastconv_bench {
namespace {

// The per-axis parameters, in key order: i (input), o (output), k (kernel), s (stride),
// p (padding), d (dilation).
enum AxisParam { kInput, kOutput, kKernel, kStride, kPadding, kDilation, kAxisParamCount };
constexpr std::string_view kAxisParamLetters = "iokspd";
constexpr std::array<std::int64_t, kAxisParamCount> kAxisParamDefaults = {0, 0, 0, 1, 0, 1};
constexpr std::string_view kAxisLetters = "dhw";  // problem-string axis letters, tensor order
enum Axis { kDepth, kHeight, kWidth };

using AxisValues = std::array<std::optional<std::int64_t>, kAxisParamCount>;

struct Descriptor {
  std::optional<std::int64_t> groups, batch, in_channels, out_channels;
  std::array<AxisValues, 3> axes;  // d, h, w
  std::optional<std::string> name;
};

[[noreturn]] void fail(std::string_view text, const std::string& what) {
  throw ProblemError(what + " in problem \"" + std::string(text) + "\"");
}

// "kh", "ow", ...: the key of one parameter of one axis.
std::string axis_key(AxisParam param, Axis axis) {
  return {kAxisParamLetters[param], kAxisLetters[axis]};
}

std::string token(std::string_view key, std::int64_t value) {
  return std::string(key) + std::to_string(value);
}

std::int64_t checked_add(std::int64_t a, std::int64_t b, std::string_view text) {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) fail(text, "overflow computing sizes");
  return sum;
}

std::int64_t checked_mul(std::int64_t a, std::int64_t b, std::string_view text) {
  std::int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) fail(text, "overflow computing sizes");
  return product;
}

// The slot of a key at the start of `rest`, and the key's length; nullptr when no key starts there.
std::optional<std::int64_t>* match_key(Descriptor& descriptor, std::string_view rest,
                                       std::size_t& key_length) {
  struct ChannelKey {
    std::string_view key;
    std::optional<std::int64_t> Descriptor::*slot;
  };
  static constexpr ChannelKey kChannelKeys[] = {{"g", &Descriptor::groups},
                                                {"mb", &Descriptor::batch},
                                                {"ic", &Descriptor::in_channels},
                                                {"oc", &Descriptor::out_channels}};
  for (const ChannelKey& entry : kChannelKeys) {
    if (rest.starts_with(entry.key)) {
      key_length = entry.key.size();
      return &(descriptor.*entry.slot);
    }
  }
  if (rest.size() < 2) return nullptr;
  const std::size_t param = kAxisParamLetters.find(rest[0]);
  const std::size_t axis = kAxisLetters.find(rest[1]);
  if (param == std::string_view::npos || axis == std::string_view::npos) return nullptr;
  key_length = 2;
  return &descriptor.axes[axis][param];
}

// The name after 'n': the rest of the string, optionally in double quotes.
std::string read_name(std::string_view text, std::string_view rest) {
  if (rest.starts_with('"')) {
    const std::size_t closing = rest.find('"', 1);
    if (closing == std::string_view::npos) fail(text, "unterminated quoted name");
    if (closing + 1 != rest.size())
      fail(text, "trailing characters '" + std::string(rest.substr(closing + 1)) +
                     "' after the quoted name");
    rest = rest.substr(1, closing - 1);
  }
  if (rest.empty()) fail(text, "empty name after 'n'");
  for (char c : rest) {
    if (c == '"' || c == '#' || static_cast<unsigned char>(c) <= ' ' || c == '\x7f')
      fail(text,
           "invalid character '" + std::string(1, c) + "' in name '" + std::string(rest) + "'");
  }
  return std::string(rest);
}

Descriptor read_keys(std::string_view text) {
  Descriptor descriptor;
  std::size_t position = 0;
  while (position < text.size()) {
    const std::string_view rest = text.substr(position);
    if (rest[0] == '_') {
      ++position;
      continue;
    }
    if (rest[0] == 'n') {
      descriptor.name = read_name(text, rest.substr(1));
      break;
    }
    std::size_t key_length = 0;
    std::optional<std::int64_t>* slot = match_key(descriptor, rest, key_length);
    if (slot == nullptr) {
      // The bad token: up to the next digit or '_', or a number without a key.
      const std::size_t end = rest.find_first_of("0123456789_");
      if (end == 0) {
        const std::size_t digits = rest.find_first_not_of("0123456789");
        fail(text, "number '" + std::string(rest.substr(0, digits)) + "' without a key");
      }
      fail(text, "unknown key '" + std::string(rest.substr(0, end)) + "'");
    }
    const std::string key(rest.substr(0, key_length));
    std::size_t digits_end = key_length;
    while (digits_end < rest.size() && rest[digits_end] >= '0' && rest[digits_end] <= '9') {
      ++digits_end;
    }
    if (digits_end == key_length) {
      if (key_length < rest.size() && rest[key_length] == '-')
        fail(text, "negative value for '" + key + "'");
      fail(text, "missing number after '" + key + "'");
    }
    std::int64_t value = 0;
    for (char digit : rest.substr(key_length, digits_end - key_length)) {
      if (__builtin_mul_overflow(value, 10, &value) ||
          __builtin_add_overflow(value, digit - '0', &value)) {
        fail(text,
             "overflow: '" + std::string(rest.substr(0, digits_end)) + "' does not fit 64 bits");
      }
    }
    if (slot->has_value()) fail(text, "duplicate key '" + key + "'");
    const bool may_be_zero = key[0] == 'p';
    if (value == 0 && !may_be_zero) fail(text, "'" + key + "0': " + key + " must be at least 1");
    *slot = value;
    position += digits_end;
  }
  return descriptor;
}

bool axis_used(const AxisValues& values) {
  if (values[kInput] || values[kOutput] || values[kKernel]) return true;
  for (AxisParam param : {kStride, kPadding, kDilation}) {
    if (values[param] && *values[param] != kAxisParamDefaults[param]) return true;
  }
  return false;
}

void fill_missing(AxisValues& target, const AxisValues& source) {
  for (int param = 0; param < kAxisParamCount; ++param) {
    if (!target[param]) target[param] = source[param];
  }
}

// Applies benchdnn's rules for absent axes; returns the used axes in tensor order.
std::vector<Axis> complete_axes(std::string_view text, Descriptor& descriptor) {
  auto& axes = descriptor.axes;
  const bool depth = axis_used(axes[kDepth]);
  const bool height = axis_used(axes[kHeight]);
  const bool width = axis_used(axes[kWidth]);
  if (depth) {
    if (!height && !width) {
      fill_missing(axes[kHeight], axes[kDepth]);
      fill_missing(axes[kWidth], axes[kDepth]);
    } else if (!height || !width) {
      fail(text, std::string("3-D problem with only the ") + (height ? "h" : "w") +
                     " axis: give both h and w, or neither (cubic)");
    }
    return {kDepth, kHeight, kWidth};
  }
  if (height) {
    if (!width) fill_missing(axes[kWidth], axes[kHeight]);
    return {kHeight, kWidth};
  }
  if (width) return {kWidth};
  fail(text, "no spatial axis (give ih, iw or id)");
}

struct AxisResult {
  std::int64_t padding = 0;
  std::int64_t output = 0;
};

// Output size (or deduced padding) of one axis; checks the kernel fits and a given output agrees.
AxisResult compute_axis(std::string_view text, const AxisValues& values, Axis axis) {
  auto key = [&](AxisParam param) { return axis_key(param, axis); };
  for (AxisParam param : {kInput, kKernel}) {
    if (!values[param]) fail(text, "missing '" + key(param) + "'");
  }
  const std::int64_t input = *values[kInput];
  const std::int64_t kernel = *values[kKernel];
  const std::int64_t stride = values[kStride].value_or(1);
  const std::int64_t dilation = values[kDilation].value_or(1);
  const std::int64_t extent = checked_add(checked_mul(kernel - 1, dilation, text), 1, text);
  // The input with `padding` on both sides: "ih14 + 2*ph1".
  auto padded_input = [&](std::int64_t padding) {
    return checked_add(input, checked_mul(2, padding, text), text);
  };
  auto describe = [&](std::int64_t padding) {
    return token(key(kInput), input) + " " + token(key(kKernel), kernel) + " " +
           token(key(kStride), stride) + " " + token(key(kPadding), padding) + " " +
           token(key(kDilation), dilation);
  };
  auto output_for = [&](std::int64_t padding) {
    if (extent > padded_input(padding)) {
      fail(text, "kernel " + token(key(kKernel), kernel) + " (extent " + std::to_string(extent) +
                     " with " + token(key(kDilation), dilation) +
                     ") is larger than the padded input " + token(key(kInput), input) + " + 2*" +
                     token(key(kPadding), padding));
    }
    return (padded_input(padding) - extent) / stride + 1;
  };

  AxisResult result;
  if (values[kPadding] || !values[kOutput]) {
    result.padding = values[kPadding].value_or(0);
    result.output = output_for(result.padding);
    if (values[kOutput] && *values[kOutput] != result.output) {
      fail(text, "'" + token(key(kOutput), *values[kOutput]) + "' does not match the output size " +
                     std::to_string(result.output) + " computed from " + describe(result.padding));
    }
    return result;
  }
  // Output given without padding: benchdnn's deduction, padding_before = total / 2 and
  // padding_after = total - padding_before.
  const std::int64_t output = *values[kOutput];
  const std::int64_t total =
      checked_add(checked_add(checked_mul(output - 1, stride, text), -input, text), extent, text);
  const std::int64_t padding = total / 2;
  if (padding < 0) {
    fail(text, "'" + token(key(kOutput), output) + "' is smaller than the output size " +
                   std::to_string(output_for(0)) + " computed from " + describe(0));
  }
  result.padding = padding;
  result.output = output_for(padding);
  if (result.output != output) {
    fail(text, "'" + token(key(kOutput), output) + "' needs asymmetric padding (" +
                   std::to_string(padding) + " before, " + std::to_string(total - padding) +
                   " after, as benchdnn deduces it from " + token(key(kInput), input) + " " +
                   token(key(kKernel), kernel) + " " + token(key(kStride), stride) + " " +
                   token(key(kDilation), dilation) +
                   "); only symmetric padding is supported: give '" + key(kPadding) + "'");
  }
  return result;
}

// Channel and group checks, and element counts of src, weight and dst within 64 bits.
void check_channels_and_counts(std::string_view text, const Layer& layer) {
  if (layer.in_channels % layer.group_count != 0)
    fail(text, "'" + token("ic", layer.in_channels) + "' is not a multiple of '" +
                   token("g", layer.group_count) + "'");
  if (layer.out_channels % layer.group_count != 0)
    fail(text, "'" + token("oc", layer.out_channels) + "' is not a multiple of '" +
                   token("g", layer.group_count) + "'");
  const std::pair<const char*, std::vector<std::int64_t>> tensors[] = {
      {"src", src_shape(layer)}, {"weight", weight_shape(layer)}, {"dst", dst_shape(layer)}};
  for (const auto& [tensor, shape] : tensors) {
    std::int64_t count = 1;
    std::string sizes;
    for (std::int64_t size : shape) sizes += (sizes.empty() ? "" : " x ") + std::to_string(size);
    for (std::int64_t size : shape) {
      if (__builtin_mul_overflow(count, size, &count))
        fail(text, std::string("overflow: ") + tensor + " of " + sizes +
                       " elements does not fit 64 bits");
    }
  }
}

// The checks of parse_problem() on a Layer built in code; `text` names it in messages.
void check_layer(std::string_view text, const Layer& layer) {
  if (layer.spatial_dims < 1 || layer.spatial_dims > 3) fail(text, "not 1-D, 2-D or 3-D");
  if (layer.batch < 1 || layer.in_channels < 1 || layer.out_channels < 1 || layer.group_count < 1)
    fail(text, "batch, channels and groups must be at least 1");
  for (int index = 0; index < layer.spatial_dims; ++index) {
    const auto axis = static_cast<Axis>(3 - layer.spatial_dims + index);
    if (layer.input[index] < 1 || layer.kernel[index] < 1 || layer.strides[index] < 1 ||
        layer.dilations[index] < 1 || layer.paddings[index] < 0) {
      fail(text, std::string("sizes, strides and dilations of axis ") + kAxisLetters[axis] +
                     " must be at least 1, padding at least 0");
    }
    AxisValues values;
    values[kInput] = layer.input[index];
    values[kKernel] = layer.kernel[index];
    values[kStride] = layer.strides[index];
    values[kPadding] = layer.paddings[index];
    values[kDilation] = layer.dilations[index];
    compute_axis(text, values, axis);
  }
  check_channels_and_counts(text, layer);
}

std::string trim(std::string_view line) {
  constexpr std::string_view kWhitespace = " \t\r\n\v\f";
  const std::size_t begin = line.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  const std::size_t end = line.find_last_not_of(kWhitespace);
  return std::string(line.substr(begin, end - begin + 1));
}

}  // namespace

ParsedProblem::ParsedProblem(std::string name, const Layer& shape)
    : layer(shape), name_storage(std::make_shared<const std::string>(std::move(name))) {
  layer.name = *name_storage;
}

ParsedProblem parse_problem(std::string_view text) {
  if (text.empty()) fail(text, "empty problem string");
  Descriptor descriptor = read_keys(text);
  if (!descriptor.in_channels) fail(text, "missing 'ic'");
  if (!descriptor.out_channels) fail(text, "missing 'oc'");
  const std::vector<Axis> used_axes = complete_axes(text, descriptor);

  Layer layer;
  layer.spatial_dims = static_cast<int>(used_axes.size());
  layer.batch = descriptor.batch.value_or(2);
  layer.in_channels = *descriptor.in_channels;
  layer.out_channels = *descriptor.out_channels;
  layer.group_count = descriptor.groups.value_or(1);
  for (std::size_t index = 0; index < used_axes.size(); ++index) {
    const AxisValues& values = descriptor.axes[used_axes[index]];
    const AxisResult result = compute_axis(text, values, used_axes[index]);
    layer.input[index] = *values[kInput];
    layer.kernel[index] = *values[kKernel];
    layer.strides[index] = values[kStride].value_or(1);
    layer.dilations[index] = values[kDilation].value_or(1);
    layer.paddings[index] = result.padding;
  }
  check_channels_and_counts(text, layer);
  std::string name = descriptor.name ? *descriptor.name : problem_string(layer);
  return ParsedProblem(std::move(name), layer);
}

std::string named_problem_string(const Layer& layer) {
  std::string text = problem_string(layer);
  if (!layer.name.empty() && layer.name != text) {
    text += 'n';
    text += layer.name;
  }
  return text;
}

std::vector<ParsedProblem> read_problem_file(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) throw ProblemError("cannot read problem file '" + path.string() + "'");
  std::vector<ParsedProblem> problems;
  std::string line;
  for (int line_number = 1; std::getline(file, line); ++line_number) {
    const std::string text = trim(std::string_view(line).substr(0, line.find('#')));
    if (text.empty()) continue;
    try {
      problems.push_back(parse_problem(text));
    } catch (const ProblemError& error) {
      throw ProblemError(path.string() + ":" + std::to_string(line_number) + ": " + error.what());
    }
  }
  if (file.bad()) throw ProblemError("error reading problem file '" + path.string() + "'");
  if (problems.empty()) throw ProblemError("no problem in problem file '" + path.string() + "'");
  return problems;
}

std::vector<ParsedProblem> sweep_problems(const Layer& base, std::int64_t from, std::int64_t to,
                                          double factor) {
  const std::string range =
      "sweep " + std::to_string(from) + ".." + std::to_string(to) + " x" + std::to_string(factor);
  if (from < 1) throw ProblemError(range + ": the first size must be at least 1");
  if (to < from) throw ProblemError(range + ": the last size is smaller than the first");
  if (!(factor > 1.0) || !std::isfinite(factor))
    throw ProblemError(range + ": the factor must be a finite number > 1");

  std::vector<int> swept_axes;
  for (int axis = 0; axis < base.spatial_dims; ++axis) {
    if (base.input[axis] > 1) swept_axes.push_back(axis);
  }
  if (swept_axes.empty()) {
    for (int axis = 0; axis < base.spatial_dims; ++axis) swept_axes.push_back(axis);
  }
  const std::string base_name = base.name.empty() ? problem_string(base) : std::string(base.name);

  std::vector<ParsedProblem> problems;
  std::int64_t size = from;
  while (true) {
    Layer layer = base;
    for (int axis : swept_axes) layer.input[axis] = size;
    std::string name = base_name + "_s" + std::to_string(size);
    try {
      check_layer(name, layer);
    } catch (const ProblemError& error) {
      throw ProblemError(range + ", size " + std::to_string(size) + ": " + error.what());
    }
    problems.emplace_back(std::move(name), layer);

    const double next = std::round(static_cast<double>(size) * factor);
    // Also stops before converting a value beyond int64 (2^63 itself is a double).
    if (next > static_cast<double>(to) ||
        next >= static_cast<double>(std::numeric_limits<std::int64_t>::max())) {
      break;
    }
    size = std::max(size + 1, static_cast<std::int64_t>(next));
    if (size > to) break;
  }
  return problems;
}

}  // namespace fastconv_bench
