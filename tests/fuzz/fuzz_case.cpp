// fuzz_case.cpp — see fuzz_case.hpp.
#include "fuzz_case.hpp"

#include <algorithm>
#include <limits>
#include <sstream>

namespace fcfuzz {
namespace fc = fastconv;
using Shape = std::vector<std::int64_t>;

const char* operation_name(Operation operation) {
  static const char* const names[] = {"forward", "transposed", "backward_data", "backward_weights",
                                      "unfold",  "fold",       "windows"};
  return names[int(operation)];
}
const char* layout_name(Layout layout) {
  static const char* const names[] = {"contiguous", "channels_last", "padded",       "permuted",
                                      "reversed",   "broadcast",     "small_strides"};
  return names[int(layout)];
}
const char* value_mode_name(ValueMode mode) {
  static const char* const names[] = {"small_integers", "reals", "integers_with_specials",
                                      "huge",           "tiny",  "mixed"};
  return names[int(mode)];
}
const char* fault_name(Fault fault) {
  static const char* const names[] = {"none", "misaligned", "overflowing_stride", "aliases_input"};
  return names[int(fault)];
}

namespace {

constexpr std::int64_t kMaxMultiplyAdds = 150'000;  // per oracle run: keeps executions fast
constexpr std::int64_t kMaxElements = 40'000;       // per operand
constexpr std::int64_t kLargestInput[] = {0, 40, 14, 6};  // by spatial dims
constexpr std::int64_t kWideChannels[] = {5, 8, 16, 17, 32, 33};
constexpr std::int64_t kWildValues[] = {0,
                                        -1,
                                        -3,
                                        7,
                                        std::int64_t(1) << 31,
                                        (std::int64_t(1) << 32) + 1,
                                        std::int64_t(1) << 40,
                                        std::int64_t(1) << 62,
                                        std::numeric_limits<std::int64_t>::max(),
                                        std::numeric_limits<std::int64_t>::min()};

// The sizes a problem is built from, before operand shapes are derived.
struct Sizes {
  std::int64_t batch = 1, groups = 1, in_per_group = 1, out_per_group = 1;
  Shape in, kernel;
};

// Sizes may be wild (chaos): products saturate at INT64_MAX, and -1 marks a negative factor.
std::int64_t sat_mul(std::int64_t a, std::int64_t b) {
  if (a < 0 || b < 0) return -1;
  std::int64_t result;
  return __builtin_mul_overflow(a, b, &result) ? std::numeric_limits<std::int64_t>::max() : result;
}

std::int64_t product(const Shape& shape) {
  std::int64_t count = 1;
  for (auto extent : shape) {
    if (extent < 0 || (extent > 0 && count > std::numeric_limits<std::int64_t>::max() / extent))
      return -1;  // not a shape to allocate
    count *= extent;
  }
  return count;
}

Shape image_shape(std::int64_t batch, std::int64_t channels, const Shape& spatial) {
  Shape shape{batch, channels};
  shape.insert(shape.end(), spatial.begin(), spatial.end());
  return shape;
}

OperandSpec operand(const char* name, int slot, bool written, Shape shape) {
  OperandSpec spec;
  spec.name = name;
  spec.slot = slot;
  spec.written = written;
  spec.shape = std::move(shape);
  return spec;
}

// Derives every operand's shape with the public shape functions; a refusal there means every
// engine must refuse too (the output then gets an arbitrary shape of ones).
void derive_operands(Case& c, const Sizes& s, bool bias) {
  const std::int64_t in_channels = sat_mul(s.groups, s.in_per_group);
  const std::int64_t out_channels = sat_mul(s.groups, s.out_per_group);
  const Shape filters = image_shape(out_channels, s.in_per_group, s.kernel);
  const Shape ones(std::size_t(c.dims) + 2, 1);
  c.operands.clear();
  c.shapes_refused = false;
  auto derived = [&](auto&& shape_function) -> Shape {
    try {
      return shape_function();
    } catch (const fc::Error&) {
      c.shapes_refused = true;
      return ones;
    }
  };
  // The forward convolution's (N, K, out...) side: one term of the reduction per element.
  Shape small_side;
  switch (c.operation) {
    case Operation::forward: {
      const Shape src = image_shape(s.batch, in_channels, s.in);
      const Shape dst = derived([&] { return fc::conv_output_shape(src, filters, c.params); });
      c.operands = {operand("src", 0, false, src), operand("weight", 1, false, filters)};
      if (bias) c.operands.push_back(operand("bias", 2, false, {out_channels}));
      c.operands.push_back(operand("dst", 3, true, dst));
      small_side = dst;
      c.reduction_length = sat_mul(s.in_per_group, std::max<std::int64_t>(product(s.kernel), 1));
      break;
    }
    case Operation::transposed: {  // src has the forward's K channels: weight (K, C/g, k...)
      const Shape src = image_shape(s.batch, out_channels, s.in);
      const Shape dst = derived([&] { return fc::conv_transpose_output_shape(src, filters, c.params); });
      c.operands = {operand("src", 0, false, src), operand("weight", 1, false, filters)};
      if (bias) c.operands.push_back(operand("bias", 2, false, {in_channels}));
      c.operands.push_back(operand("dst", 3, true, dst));
      small_side = src;
      c.reduction_length = sat_mul(s.out_per_group, std::max<std::int64_t>(product(s.kernel), 1));
      break;
    }
    case Operation::backward_data: {
      const Shape diff_src = image_shape(s.batch, in_channels, s.in);
      const Shape diff_dst = derived([&] { return fc::conv_output_shape(diff_src, filters, c.params); });
      c.operands = {operand("weight", 1, false, filters), operand("diff_dst", 4, false, diff_dst),
                    operand("diff_src", 5, true, diff_src)};
      small_side = diff_dst;
      c.reduction_length = sat_mul(s.out_per_group, std::max<std::int64_t>(product(s.kernel), 1));
      break;
    }
    case Operation::backward_weights: {
      const Shape src = image_shape(s.batch, in_channels, s.in);
      const Shape diff_dst = derived([&] { return fc::conv_output_shape(src, filters, c.params); });
      c.operands = {operand("src", 0, false, src), operand("diff_dst", 4, false, diff_dst),
                    operand("diff_weight", 6, true, filters)};
      if (bias) c.operands.push_back(operand("diff_bias", 7, true, {out_channels}));
      small_side = diff_dst;
      Shape pixels(diff_dst.begin() + 2, diff_dst.end());
      c.reduction_length = std::max<std::int64_t>(sat_mul(s.batch, std::max<std::int64_t>(product(pixels), 0)), 1);
      break;
    }
    case Operation::unfold:
    case Operation::fold: {
      const Shape image = image_shape(s.batch, in_channels, s.in);
      const Shape columns = derived([&] { return fc::unfold_output_shape(image, c.kernel_size, c.params); });
      if (c.operation == Operation::unfold) {
        c.operands = {operand("src", 0, false, image), operand("dst", 1, true, columns)};
      } else {
        c.operands = {operand("src", 0, false, columns), operand("dst", 1, true, image)};
      }
      small_side = columns;
      c.reduction_length = std::max<std::int64_t>(product(c.kernel_size), 1);
      break;
    }
    case Operation::windows:
      c.operands = {operand("src", 0, false, image_shape(s.batch, in_channels, s.in))};
      small_side = c.operands[0].shape;
      c.reduction_length = std::max<std::int64_t>(product(s.kernel), 1);
      break;
  }
  // Work and memory bounds: beyond them the problem is only planned, never run.
  c.too_big = false;
  for (const auto& spec : c.operands) {
    const std::int64_t count = product(spec.shape);
    if (count < 0 || count > kMaxElements) c.too_big = true;
  }
  const std::int64_t small = product(small_side);
  if (small < 0 || small > kMaxMultiplyAdds || c.reduction_length < 0 || c.reduction_length > kMaxMultiplyAdds ||
      small * c.reduction_length > kMaxMultiplyAdds)
    c.too_big = true;
}

// Halves the largest contributor to the work until the problem fits (only for undisturbed
// problems: chaos values are left as decoded, and a too-big one is planned only).
void derive_within_budget(Case& c, Sizes s, bool bias) {
  for (int round = 0; round < 32; ++round) {
    derive_operands(c, s, bias);
    if (!c.too_big || c.chaos) return;
    if (s.batch > 1) {
      s.batch = 1;
    } else if (s.in_per_group > 4 || s.out_per_group > 4) {
      s.in_per_group = (s.in_per_group + 1) / 2;
      s.out_per_group = (s.out_per_group + 1) / 2;
    } else if (s.groups > 2) {
      s.groups = 2;
      c.params.group_count = 2;  // (the shapes and the parameters must keep agreeing)
    } else {
      auto largest = std::max_element(s.in.begin(), s.in.end());
      if (*largest <= 1) return;
      *largest = std::max<std::int64_t>(1, *largest * 2 / 3);
    }
  }
}

}  // namespace

Case decode_case(ByteReader& reader) {
  Case c;
  c.operation = Operation(reader.pick(kOperationCount));
  std::uint8_t b = reader.byte();
  c.dims = 1 + b % 3;
  c.dtype = (b >> 2) % 4 == 3 ? fc::DType::float64 : fc::DType::float32;
  b = reader.byte();
  c.threads_at_plan = 1 + b % 3;
  c.threads_at_run = (b & 0x10) ? 1 + (b >> 2) % 3 : c.threads_at_plan;
  b = reader.byte();
  c.caller_workspace = b & 1;
  c.pack_weights = b & 2;
  const bool bias = b & 4;
  c.run_twice = b & 8;
  c.misaligned_workspace = (b & 0x30) == 0x30;
  const bool pointwise_shape = b & 0x40;  // kernel 1, stride 1, no padding on every axis

  Sizes s;
  b = reader.byte();
  s.batch = b % 8 == 7 ? 0 : 1 + b % 2;
  b = reader.byte();
  const int group_mode = b % 4;
  s.groups = group_mode == 0 ? 1 : group_mode == 1 ? 2 : 1 + (b >> 2) % (group_mode == 2 ? 4 : 8);
  const bool depthwise = group_mode == 3;
  auto channels = [&](std::uint8_t value) {
    return (value & 0x80) ? kWideChannels[value % 6] : 1 + value % 4;
  };
  b = reader.byte();
  s.in_per_group = depthwise ? 1 : channels(b);
  b = reader.byte();
  s.out_per_group = channels(b);

  c.params = fc::ConvParams(c.dims);
  for (int i = 0; i < c.dims; ++i) {
    s.in.push_back(1 + reader.byte() % kLargestInput[c.dims]);
    s.kernel.push_back(1 + reader.byte() % (c.dims == 3 ? 3 : 5));
    b = reader.byte();
    c.params.strides[i] = 1 + (b % 4 == 3 ? 1 + (b >> 2) % 3 : 0);
    c.params.dilations[i] = 1 + ((b >> 4) % 4 == 3 ? 1 + (b >> 6) % 2 : 0);
    b = reader.byte();
    c.params.pad_begin[i] = b % 4;
    c.params.pad_end[i] = (b >> 2) % 4;
    if (c.operation == Operation::transposed)
      c.params.output_paddings[i] = (b >> 4) % std::max(c.params.strides[i], c.params.dilations[i]);
    if (pointwise_shape) {
      s.kernel.back() = 1;
      c.params.strides[i] = 1;
      c.params.pad_begin[i] = c.params.pad_end[i] = c.params.output_paddings[i] = 0;
    }
  }
  c.params.group_count = s.groups;
  if (!is_conv(c.operation)) {  // unfold / fold / windows: channels only, no groups
    s.in_per_group = sat_mul(s.in_per_group, s.groups);
    s.groups = 1;
    c.params.group_count = 1;
    c.kernel_size = s.kernel;
  }
  if (c.operation == Operation::windows) {
    c.window_stride.assign(c.params.strides.begin(), c.params.strides.begin() + c.dims);
    c.window_dilation.assign(c.params.dilations.begin(), c.params.dilations.begin() + c.dims);
  }

  if (reader.chance(20)) {  // one wild value
    c.chaos = true;
    const int target = reader.pick(10), axis = reader.pick(c.dims);
    const std::int64_t wild = kWildValues[reader.pick(int(std::size(kWildValues)))];
    const char* const targets[] = {"stride",  "dilation", "pad_begin", "pad_end", "output_padding",
                                   "groups",  "input size", "kernel size", "batch", "channels"};
    c.chaos_text = std::string(targets[target]) + "[" + std::to_string(axis) + "] = " + std::to_string(wild);
    switch (target) {
      case 0: c.params.strides[axis] = wild; break;
      case 1: c.params.dilations[axis] = wild; break;
      case 2: c.params.pad_begin[axis] = wild; break;
      case 3: c.params.pad_end[axis] = wild; break;
      case 4: c.params.output_paddings[axis] = wild; break;
      case 5: c.params.group_count = wild; break;
      case 6: s.in[std::size_t(axis)] = wild; break;
      case 7: s.kernel[std::size_t(axis)] = wild; break;
      case 8: s.batch = wild; break;
      case 9: s.in_per_group = wild; break;
    }
    if (!is_conv(c.operation)) c.kernel_size = s.kernel;
    if (c.operation == Operation::windows) {
      c.window_stride.assign(c.params.strides.begin(), c.params.strides.begin() + c.dims);
      c.window_dilation.assign(c.params.dilations.begin(), c.params.dilations.begin() + c.dims);
    }
  }
  c.values = ValueMode(reader.pick(kValueModeCount));
  c.seed = reader.u64();

  derive_within_budget(c, s, bias);
  for (auto& spec : c.operands) spec.layout = Layout(reader.pick(kLayoutCount));
  if (reader.chance(28)) {
    c.fault = Fault(1 + reader.pick(3));
    c.fault_operand = reader.pick(int(c.operands.size()));
    c.fault_amount = reader.byte();
  }
  return c;
}

std::string describe(const Case& c) {
  std::ostringstream out;
  out << operation_name(c.operation) << " " << fc::dtype_name(c.dtype) << " dims=" << c.dims
      << " params{" << c.params.to_string() << "}";
  if (!c.kernel_size.empty()) {
    out << " kernel_size=[";
    for (std::size_t i = 0; i < c.kernel_size.size(); ++i) out << (i ? ", " : "") << c.kernel_size[i];
    out << "]";
  }
  out << " threads plan/run=" << c.threads_at_plan << "/" << c.threads_at_run
      << " workspace=" << (c.caller_workspace ? (c.misaligned_workspace ? "caller-misaligned" : "caller") : "own")
      << (c.pack_weights ? " pack_weights" : "") << (c.run_twice ? " run_twice" : "")
      << " values=" << value_mode_name(c.values) << " seed=" << c.seed;
  if (c.chaos) out << " chaos{" << c.chaos_text << "}";
  if (c.shapes_refused) out << " shapes-refused";
  if (c.too_big) out << " too-big(plan only)";
  if (c.fault != Fault::none)
    out << " fault=" << fault_name(c.fault) << "@" << c.operands[std::size_t(c.fault_operand)].name
        << "(" << c.fault_amount << ")";
  out << "\n  operands:";
  for (const auto& spec : c.operands) {
    out << " " << spec.name << "[";
    for (std::size_t i = 0; i < spec.shape.size(); ++i) out << (i ? "," : "") << spec.shape[i];
    out << "]/" << layout_name(spec.layout);
  }
  return out.str();
}

// The plan kind of a convolution operation (forward for the others).
fc::ConvKind conv_kind(Operation operation) {
  switch (operation) {
    case Operation::transposed: return fc::ConvKind::transposed;
    case Operation::backward_data: return fc::ConvKind::backward_data;
    case Operation::backward_weights: return fc::ConvKind::backward_weights;
    default: return fc::ConvKind::forward;
  }
}

}  // namespace fcfuzz
