// tests/support/problem.cpp — see problem.hpp.
#include "support/problem.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <new>
#include <span>
#include <sstream>
#include <stdexcept>

namespace fctest {

namespace fc = fastconv;

const char* op_name(Op op) {
  switch (op) {
    case Op::forward:
      return "forward";
    case Op::transposed:
      return "transposed";
    case Op::backward_data:
      return "backward_data";
    case Op::backward_weights:
      return "backward_weights";
    case Op::unfold:
      return "unfold";
    case Op::fold:
      return "fold";
  }
  return "?";
}

const char* api_name(ApiPath api) {
  switch (api) {
    case ApiPath::one_call:
      return "one_call";
    case ApiPath::plan:
      return "plan";
    case ApiPath::plan_with_workspace:
      return "plan+workspace";
  }
  return "?";
}

int Problem::find(std::string_view name) const {
  for (std::size_t i = 0; i < operands.size(); ++i)
    if (operands[i].name == name) return int(i);
  return -1;
}

std::int64_t Problem::reduction_length() const {
  const std::int64_t kernel_size = product(kernel);
  switch (op) {
    case Op::forward:
    case Op::transposed:
      return in_channels / groups * kernel_size + (has_bias ? 1 : 0);
    case Op::backward_data:
      return out_channels / groups * kernel_size;
    case Op::backward_weights:
      return batch * product(output_spatial);
    case Op::unfold:
      return 0;
    case Op::fold:
      return kernel_size;
  }
  return 0;
}

std::int64_t Problem::mac_count() const {
  const std::int64_t kernel_size = product(kernel);
  switch (op) {
    case Op::forward:
    case Op::backward_data:
    case Op::backward_weights:
      return batch * out_channels * product(output_spatial) * (in_channels / groups) * kernel_size;
    case Op::transposed:
      return batch * in_channels * product(input_spatial) * (out_channels / groups) * kernel_size;
    case Op::unfold:
    case Op::fold:
      return batch * in_channels * kernel_size * product(output_spatial);
  }
  return 0;
}

static std::string list_string(const fc::SpatialArray& values, int count) {
  return shape_string({values.data(), std::size_t(count)});
}

std::string Problem::describe() const {
  std::ostringstream out;
  const int d = spatial_dims;
  out << op_name(op) << (large ? " (large)" : "") << " seed=" << seed << " api=" << api_name(api)
      << " dims=" << d << " N=" << batch << " C=" << in_channels << " K=" << out_channels
      << " groups=" << groups << " in=" << shape_string(input_spatial)
      << " kernel=" << shape_string(kernel) << " out=" << shape_string(output_spatial)
      << " stride=" << list_string(params.strides, d)
      << " dilation=" << list_string(params.dilations, d)
      << " pad=" << list_string(params.pad_begin, d) << "/" << list_string(params.pad_end, d)
      << " output_padding=" << list_string(params.output_paddings, d)
      << " bias=" << (has_bias ? "yes" : "no") << "\n  operands:";
  for (const auto& operand : operands)
    out << " " << operand.name << shape_string(operand.shape) << ":" << layout_name(operand.layout)
        << (operand.is_output ? "(out)" : "");
  return out.str();
}

static std::vector<std::int64_t> concat(std::initializer_list<std::int64_t> head,
                                        const std::vector<std::int64_t>& tail) {
  std::vector<std::int64_t> result(head);
  result.insert(result.end(), tail.begin(), tail.end());
  return result;
}

void finalize(Problem& p) {
  const int d = p.spatial_dims;
  p.output_spatial.assign(std::size_t(d), 0);
  for (int i = 0; i < d; ++i) {
    const std::int64_t extent = p.params.dilations[i] * (p.kernel[i] - 1) + 1;
    if (p.op == Op::transposed) {
      p.output_spatial[i] = (p.input_spatial[i] - 1) * p.params.strides[i] - p.params.pad_begin[i] -
                            p.params.pad_end[i] + extent + p.params.output_paddings[i];
    } else {
      const std::int64_t padded = p.input_spatial[i] + p.params.pad_begin[i] + p.params.pad_end[i];
      p.output_spatial[i] = padded >= extent ? (padded - extent) / p.params.strides[i] + 1 : 0;
    }
  }
  const std::int64_t N = p.batch, C = p.in_channels, K = p.out_channels, g = p.groups;
  const auto& in = p.input_spatial;
  const auto& out = p.output_spatial;
  const auto& k = p.kernel;
  p.operands.clear();
  auto add = [&](const char* name, std::vector<std::int64_t> shape, bool is_output) {
    p.operands.push_back({name, std::move(shape), Layout::contiguous, is_output});
  };
  switch (p.op) {
    case Op::forward:
      add("src", concat({N, C}, in), false);
      add("weight", concat({K, C / g}, k), false);
      if (p.has_bias) add("bias", {K}, false);
      add("dst", concat({N, K}, out), true);
      break;
    case Op::transposed:
      add("src", concat({N, C}, in), false);
      add("weight", concat({C, K / g}, k), false);
      if (p.has_bias) add("bias", {K}, false);
      add("dst", concat({N, K}, out), true);
      break;
    case Op::backward_data:
      add("diff_dst", concat({N, K}, out), false);
      add("weight", concat({K, C / g}, k), false);
      add("diff_src", concat({N, C}, in), true);
      break;
    case Op::backward_weights:
      add("src", concat({N, C}, in), false);
      add("diff_dst", concat({N, K}, out), false);
      add("diff_weight", concat({K, C / g}, k), true);
      if (p.has_bias) add("diff_bias", {K}, true);
      break;
    case Op::unfold:
      add("src", concat({N, C}, in), false);
      add("dst", {N, C * product(k), product(out)}, true);
      break;
    case Op::fold:
      add("src", {N, C * product(k), product(out)}, false);
      add("dst", concat({N, C}, in), true);
      break;
  }
}

Problem make_problem(Op op, std::int64_t batch, std::int64_t in_channels, std::int64_t out_channels,
                     std::vector<std::int64_t> input_spatial, std::vector<std::int64_t> kernel,
                     const fc::ConvParams& params, bool has_bias) {
  Problem p;
  p.op = op;
  p.spatial_dims = params.spatial_dims;
  p.batch = batch;
  p.in_channels = in_channels;
  p.out_channels = out_channels;
  p.groups = params.group_count;
  p.has_bias = has_bias;
  p.input_spatial = std::move(input_spatial);
  p.kernel = std::move(kernel);
  p.params = params;
  finalize(p);
  return p;
}

Layout pick_layout(Rng& rng, bool is_output, std::size_t rank, const LayoutOdds& odds) {
  const double r = rng.uniform_real(0.0, 1.0);
  if (rank == 1) {  // bias-like vectors
    if (r < 0.5) return Layout::contiguous;
    if (r < 0.8 || is_output) return Layout::gapped;
    return Layout::reversed;
  }
  static constexpr Layout kOutputLayouts[] = {Layout::contiguous, Layout::channels_last,
                                              Layout::gapped, Layout::permuted};
  static constexpr Layout kInputLayouts[] = {Layout::contiguous, Layout::channels_last,
                                             Layout::gapped,     Layout::permuted,
                                             Layout::reversed,   Layout::broadcast};
  const std::span<const double> bounds = is_output ? std::span<const double>(odds.output)
                                                   : std::span<const double>(odds.input);
  std::size_t i = 0;
  while (i < bounds.size() && r >= bounds[i]) ++i;
  return is_output ? kOutputLayouts[i] : kInputLayouts[i];
}

void finish_random_problem(Problem& problem, std::uint64_t seed, Rng& rng, const LayoutOdds& odds) {
  problem.seed = seed;
  problem.api = static_cast<ApiPath>(seed % 3);
  for (auto& operand : problem.operands)
    operand.layout = pick_layout(rng, operand.is_output, operand.shape.size(), odds);
}

bool draw_axes(Rng& rng, Op op, const AxisOdds& odds,
               const std::function<std::int64_t(bool last)>& input_extent, fc::ConvParams& params,
               std::vector<std::int64_t>& input, std::vector<std::int64_t>& kernel) {
  const int d = params.spatial_dims;
  input.assign(std::size_t(d), 0);
  kernel.assign(std::size_t(d), 0);
  bool fits = true;
  for (int i = 0; i < d; ++i) {
    const auto a = std::size_t(i);
    kernel[a] = rng.uniform_int(1, d == 3 ? 3 : 5);
    params.strides[i] = rng.chance(odds.stride_one) ? 1 : rng.uniform_int(2, 4);
    params.dilations[i] = rng.chance(odds.dilation_one) ? 1 : rng.uniform_int(2, 3);
    params.pad_begin[i] = rng.chance(0.35) ? 0 : rng.uniform_int(0, 3);
    params.pad_end[i] = rng.chance(odds.pad_end_same) ? params.pad_begin[i] : rng.uniform_int(0, 3);
    input[a] = input_extent(i == d - 1);
    const std::int64_t extent = params.dilations[i] * (kernel[a] - 1) + 1;
    if (op == Op::transposed) {
      if (rng.chance(0.5))
        params.output_paddings[i] =
            rng.uniform_int(0, std::max(params.strides[i], params.dilations[i]) - 1);
      const std::int64_t out = (input[a] - 1) * params.strides[i] - params.pad_begin[i] -
                               params.pad_end[i] + extent + params.output_paddings[i];
      fits = fits && out >= 1;
    } else {
      fits = fits && input[a] + params.pad_begin[i] + params.pad_end[i] >= extent;
    }
  }
  return fits;
}

namespace {

struct Limits {
  std::int64_t max_batch, max_channels, max_depthwise_channels, max_groups, max_per_group;
  std::int64_t max_in[3], max_kernel[3];  // by spatial_dims - 1
  std::int64_t max_pad, mac_budget;
};

constexpr Limits kSmall = {3, 5, 4, 3, 3, {13, 9, 6}, {4, 4, 3}, 3, 12000};
constexpr Limits kLarge = {4, 48, 32, 8, 8, {64, 24, 10}, {7, 5, 3}, 3, 400000};

}  // namespace

Problem random_problem(Op op, std::uint64_t seed, bool large) {
  Rng rng(mix_seed(seed, std::uint64_t(op) + (large ? 1001 : 101)));
  const Limits& limits = large ? kLarge : kSmall;
  for (int attempt = 0;; ++attempt) {
    Problem p;
    p.op = op;
    p.seed = seed;
    p.large = large;
    const double rd = rng.uniform_real(0.0, 1.0);
    const int d = rd < 0.3 ? 1 : (rd < 0.7 ? 2 : 3);
    p.spatial_dims = d;
    p.batch = rng.chance(0.45) ? 1 : rng.uniform_int(2, limits.max_batch);
    if (op == Op::unfold || op == Op::fold) {
      p.in_channels = p.out_channels = rng.uniform_int(1, limits.max_channels);
      p.groups = 1;
    } else {
      const double rg = rng.uniform_real(0.0, 1.0);
      if (rg < 0.45) {
        p.groups = 1;
        p.in_channels = rng.uniform_int(1, limits.max_channels);
        p.out_channels = rng.uniform_int(1, limits.max_channels);
      } else if (rg < 0.7) {  // depthwise, channel multiplier 1..3
        p.in_channels = rng.uniform_int(1, limits.max_depthwise_channels);
        p.groups = p.in_channels;
        p.out_channels = p.in_channels * rng.uniform_int(1, 3);
      } else {
        p.groups = rng.uniform_int(2, limits.max_groups);
        p.in_channels = p.groups * rng.uniform_int(1, limits.max_per_group - 1);
        p.out_channels = p.groups * rng.uniform_int(1, limits.max_per_group);
      }
      p.has_bias = op != Op::backward_data && rng.chance(0.5);
    }
    fc::ConvParams params;
    params.spatial_dims = d;
    params.group_count = p.groups;
    p.input_spatial.assign(std::size_t(d), 1);
    p.kernel.assign(std::size_t(d), 1);
    for (int i = 0; i < d; ++i) {
      const std::int64_t kernel = rng.uniform_int(1, limits.max_kernel[d - 1]);
      const std::int64_t stride = rng.chance(0.45) ? 1 : rng.uniform_int(2, 4);
      const std::int64_t dilation = rng.chance(0.55) ? 1 : rng.uniform_int(2, 3);
      const std::int64_t pad_begin = rng.chance(0.4) ? 0 : rng.uniform_int(0, limits.max_pad);
      const std::int64_t pad_end =
          rng.chance(0.35) ? pad_begin : rng.uniform_int(0, limits.max_pad);
      std::int64_t in = rng.uniform_int(1, limits.max_in[d - 1]);
      const std::int64_t extent = dilation * (kernel - 1) + 1;
      std::int64_t output_padding = 0;
      if (op == Op::transposed) {
        if (rng.chance(0.5)) output_padding = rng.uniform_int(0, std::max(stride, dilation) - 1);
        while ((in - 1) * stride - pad_begin - pad_end + extent + output_padding < 1) ++in;
      } else {
        in = std::max(in, extent - pad_begin - pad_end);
      }
      p.kernel[i] = kernel;
      p.input_spatial[i] = in;
      params.strides[i] = stride;
      params.dilations[i] = dilation;
      params.pad_begin[i] = pad_begin;
      params.pad_end[i] = pad_end;
      params.output_paddings[i] = output_padding;
    }
    p.params = params;
    finalize(p);
    if (p.mac_count() > limits.mac_budget && attempt < 10000) continue;
    if (op != Op::unfold && op != Op::fold) p.api = static_cast<ApiPath>(seed % 3);
    for (auto& operand : p.operands)
      operand.layout =
          pick_layout(rng, operand.is_output, operand.shape.size(), kRandomProblemLayoutOdds);
    return p;
  }
}

std::vector<Tensor> allocate(const Problem& problem, fc::DType dtype, bool use_layouts) {
  std::vector<Tensor> tensors;
  Rng rng(mix_seed(problem.seed, 0xA110C));
  for (const auto& operand : problem.operands)
    tensors.emplace_back(dtype, operand.shape, use_layouts ? operand.layout : Layout::contiguous,
                         &rng);
  return tensors;
}

void fill_int_inputs(const Problem& problem, std::vector<Tensor>& tensors, Rng& rng, int lo,
                     int hi) {
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (!problem.operands[i].is_output) tensors[i].fill_int(rng, lo, hi);
}

void fill_real_inputs(const Problem& problem, std::vector<Tensor>& tensors, Rng& rng) {
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (!problem.operands[i].is_output) tensors[i].fill_real(rng, -1.0, 1.0);
}

void fill_outputs_with_sentinel(const Problem& problem, std::vector<Tensor>& tensors) {
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (problem.operands[i].is_output) tensors[i].fill_storage(kSentinel);
}

void copy_inputs(const Problem& problem, const std::vector<Tensor>& from, std::vector<Tensor>& to,
                 bool absolute) {
  for (std::size_t i = 0; i < from.size(); ++i) {
    if (problem.operands[i].is_output) continue;
    auto values = from[i].to_dense();
    if (absolute)
      for (auto& v : values) v = std::abs(v);
    to[i].from_dense(values);
  }
}

fc::ConvKind conv_kind(Op op) {
  switch (op) {
    case Op::forward:
      return fc::ConvKind::forward;
    case Op::transposed:
      return fc::ConvKind::transposed;
    case Op::backward_data:
      return fc::ConvKind::backward_data;
    case Op::backward_weights:
      return fc::ConvKind::backward_weights;
    default:
      throw std::logic_error("conv_kind: not a convolution");
  }
}

static fc::TensorView* field(fc::ConvArgs& args, const std::string& name) {
  if (name == "src") return &args.src;
  if (name == "weight") return &args.weight;
  if (name == "bias") return &args.bias;
  if (name == "dst") return &args.dst;
  if (name == "diff_dst") return &args.diff_dst;
  if (name == "diff_src") return &args.diff_src;
  if (name == "diff_weight") return &args.diff_weight;
  if (name == "diff_bias") return &args.diff_bias;
  throw std::logic_error("unknown operand " + name);
}

fc::ConvArgs conv_args(const Problem& problem, const std::vector<Tensor>& tensors) {
  fc::ConvArgs args;
  for (std::size_t i = 0; i < tensors.size(); ++i)
    *field(args, problem.operands[i].name) = tensors[i].view();
  return args;
}

fc::ConvArgs shape_args(const Problem& problem, fc::DType dtype) {
  fc::ConvArgs args;
  for (const auto& operand : problem.operands)
    *field(args, operand.name) = raw_view(nullptr, dtype, operand.shape);
  return args;
}

namespace {
struct AlignedDelete {
  void operator()(unsigned char* p) const { ::operator delete[](p, std::align_val_t(64)); }
};
}  // namespace

void run(const Problem& problem, std::vector<Tensor>& tensors, fc::Engine engine, ApiPath api) {
  auto view = [&](const char* name) {
    const int index = problem.find(name);
    return index >= 0 ? tensors[std::size_t(index)].view() : fc::TensorView{};
  };
  if (problem.op == Op::unfold) {
    fc::unfold(view("src"), view("dst"), problem.kernel, problem.params, engine);
    return;
  }
  if (problem.op == Op::fold) {
    fc::fold(view("src"), view("dst"), problem.kernel, problem.params, engine);
    return;
  }
  const fc::ConvArgs args = conv_args(problem, tensors);
  if (api == ApiPath::one_call) {
    switch (problem.op) {
      case Op::forward:
        fc::conv_forward(args.src, args.weight, problem.has_bias ? &args.bias : nullptr, args.dst,
                         problem.params, engine);
        return;
      case Op::transposed:
        fc::conv_transpose_forward(args.src, args.weight, problem.has_bias ? &args.bias : nullptr,
                                   args.dst, problem.params, engine);
        return;
      case Op::backward_data:
        fc::conv_backward_data(args.diff_dst, args.weight, args.diff_src, problem.params, engine);
        return;
      case Op::backward_weights:
        fc::conv_backward_weights(args.src, args.diff_dst, args.diff_weight,
                                  problem.has_bias ? &args.diff_bias : nullptr, problem.params,
                                  engine);
        return;
      default:
        return;
    }
  }
  // Plan path: created from shapes only (null data, contiguous strides), run on the real views.
  fc::ConvArgs shapes;
  for (std::size_t i = 0; i < tensors.size(); ++i)
    *field(shapes, problem.operands[i].name) =
        raw_view(nullptr, tensors[i].dtype(), problem.operands[i].shape);
  const fc::ConvPlan plan(conv_kind(problem.op), shapes, problem.params, engine);
  if (api == ApiPath::plan) {
    plan.run(args);
    return;
  }
  const std::size_t bytes = std::max<std::size_t>(plan.workspace_bytes(), 1);
  std::unique_ptr<unsigned char[], AlignedDelete> workspace(
      new (std::align_val_t(64)) unsigned char[bytes]);
  std::fill(workspace.get(), workspace.get() + bytes, 0xFF);  // NaN garbage: must not be read
  plan.run(args, workspace.get());
}

std::vector<std::uint64_t> test_seeds(int default_count) {
  if (const char* one = std::getenv("FASTCONV_TEST_SEED")) return {std::strtoull(one, nullptr, 10)};
  int count = default_count;
  if (const char* n = std::getenv("FASTCONV_TEST_PROBLEMS")) count = std::atoi(n);
  std::vector<std::uint64_t> seeds;
  for (int i = 1; i <= count; ++i) seeds.push_back(std::uint64_t(i));
  return seeds;
}

std::string reproduce_hint(std::uint64_t seed) {
  char exe[4096] = {};
  const auto length = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::ostringstream out;
  out << "reproduce: FASTCONV_TEST_SEED=" << seed << " " << (length > 0 ? exe : "<test binary>");
  if (info) out << " --gtest_filter='" << info->test_suite_name() << "." << info->name() << "'";
  return out.str();
}

}  // namespace fctest
