// torch_unfold_peer.cpp — the recipe PyTorch users write today for a custom convolution
// (AdderNet, morphological dilation / erosion, distance layers), in libtorch (ATen + autograd):
//   1. pad the input with the operation's pad value (at::constant_pad_nd, i.e. F.pad);
//   2. sliding windows, as views: Tensor::unfold per spatial axis (window span
//      dilation * (kernel - 1) + 1, step = stride), dilation by slicing the window axis with step
//      `dilation`; groups by reshaping the channels to (G, C/G) and the weights to
//      (G, K/G, C/G, k...): windows (N, G, 1, C/G, out..., k...), weights (1, G, K/G, C/G, 1..., k...);
//   3. the combine, broadcast: one (N, G, K/G, C/G, out..., k...) temporary (N K out C/G k floats,
//      the pair count), and more for combines of several steps;
//   4. the reduce over the window (C/G and the kernel axes): sum, amax, amin or logsumexp.
// Combines and reduces are the catalog's (fastconv/inner_op.hpp): mul_sum x*w sum, abs_diff_sum
// and abs_diff_sum_adder -|x-w| sum, sq_diff_sum (x-w)^2 sum, add_max x+w max, sub_min x-w min,
// mul_max x*w max, mul_logsumexp x*w logsumexp; 1-D, 2-D and 3-D, stride, padding, dilation,
// groups; no bias (the bench gives none).
//
// bwd_d / bwd_w use autograd, as a training step with the recipe does: run() is the forward with
// requires_grad on x (bwd_d) or w (bwd_w), then y.backward(dL/dy), and reads x.grad / w.grad.
// They are timed as forward + backward, since a user of the recipe cannot skip the forward
// (fastconv's gradient plans read x and w instead). For max and min the gradient's forward
// reduces one axis at a time with max / min along a dimension (the last kernel axis first, C/G
// last), whose gradient goes to the first extreme of each: together the first (c, t) in order,
// the catalog's rule (amax / amin would split a tie).
//
// Skipped (PeerUnsupported): the transposed direction (the plain convolution's adjoint; the torch
// peer times it); abs_diff_sum_adder's gradients (AdderNet's surrogates, where autograd gives the
// true gradient of -|x - w|); mul_max's and mul_logsumexp's weight gradients with an infinite
// pad value on padded layers (autograd's 0 * inf = NaN where the catalog's term adds nothing);
// operations with parameters or their own epilogue; layers whose broadcast temporary, 4 of which
// may be alive at once, does not fit into the available memory.
// The thread count is set with at::set_num_threads. With PeerProblem::allocate_output false
// (--alloc none) the calls run with a ReuseAllocator (torch_reuse_allocator.hpp).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "peers/peer.hpp"
#include "peers/torch_reuse_allocator.hpp"

namespace fastconv_bench {
namespace {

using CombineFn = at::Tensor (*)(const at::Tensor& x, const at::Tensor& w);

// The recipe of each catalog operation: its combine as PyTorch code; the reduce is the op's own
// (InnerOp::reduce()).
struct Recipe {
  std::string_view op;
  CombineFn combine;
  bool autograd_is_its_gradient;  // false: the op's gradient is a surrogate autograd cannot give
  // true: d/dw of the combine is x, and the reduce gives some terms weight 0 (max / min route to
  // one term, logsumexp's softmax underflows): with an infinite pad value autograd's weight
  // gradient is 0 * inf = NaN there, where the catalog's term adds nothing.
  bool weight_gradient_nan_at_infinite_pad;
};

at::Tensor multiply(const at::Tensor& x, const at::Tensor& w) { return x * w; }
at::Tensor negative_abs_difference(const at::Tensor& x, const at::Tensor& w) { return -(x - w).abs(); }
at::Tensor squared_difference(const at::Tensor& x, const at::Tensor& w) { return (x - w).pow(2); }
at::Tensor add(const at::Tensor& x, const at::Tensor& w) { return x + w; }
at::Tensor subtract(const at::Tensor& x, const at::Tensor& w) { return x - w; }

constexpr Recipe kRecipes[] = {
    {"mul_sum", multiply, true, false},
    {"abs_diff_sum", negative_abs_difference, true, false},
    {"abs_diff_sum_adder", negative_abs_difference, false, false},
    {"sq_diff_sum", squared_difference, true, false},
    {"add_max", add, true, false},
    {"sub_min", subtract, true, false},
    {"mul_max", multiply, true, true},
    {"mul_logsumexp", multiply, true, true},
};

std::vector<std::int64_t> used(const Layer& layer, const fastconv::SpatialArray& values) {
  return {values.begin(), values.begin() + layer.spatial_dims};
}

// The buffer of `role` as a tensor, without a copy. A null forward operand (the plain
// convolution's gradients, for which the bench allocates none): zeros of its shape, allocated
// once — the gradient of x * w summed does not depend on the operand it is not taken for.
at::Tensor wrap(const Layer& layer, Role role, const float* data) {
  const at::TensorOptions options = at::TensorOptions().dtype(at::kFloat);
  if (data == nullptr) return at::zeros(role_shape(layer, role), options);
  return at::from_blob(const_cast<float*>(data), role_shape(layer, role), options);
}

bool is_gradient(Direction direction) {
  return direction == Direction::backward_data || direction == Direction::backward_weights;
}

// MemAvailable of /proc/meminfo in bytes; 0 when unknown.
double available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  double kibibytes = 0.0;
  std::string unit;
  while (meminfo >> key >> kibibytes >> unit) {
    if (key == "MemAvailable:") return kibibytes * 1024.0;
  }
  return 0.0;
}

class TorchUnfoldLayer final : public PeerLayer {
 public:
  TorchUnfoldLayer(const PeerProblem& problem, const Recipe& recipe)
      : reuse_allocator_(problem.allocate_output ? nullptr : std::make_unique<ReuseAllocator>(c10::GetAllocator(c10::DeviceType::CPU))),
        layer_(problem.layer),
        direction_(problem.direction),
        combine_(recipe.combine),
        reduce_(problem.op.reduce()),
        pad_value_(problem.op.pad_value()) {
    switch (direction_) {
      case Direction::forward:
        src_ = wrap(layer_, Role::src, problem.src);
        weight_ = wrap(layer_, Role::weight, problem.weight);
        break;
      case Direction::backward_data:  // x: the forward's input, whose gradient is computed
        src_ = wrap(layer_, Role::src, problem.forward_src).requires_grad_(true);
        weight_ = wrap(layer_, Role::weight, problem.weight);
        diff_dst_ = wrap(layer_, Role::dst, problem.dst);
        break;
      case Direction::backward_weights:  // w: the forward's weight, whose gradient is computed
        src_ = wrap(layer_, Role::src, problem.src);
        weight_ = wrap(layer_, Role::weight, problem.forward_weight).requires_grad_(true);
        diff_dst_ = wrap(layer_, Role::dst, problem.dst);
        break;
      case Direction::transposed:
        throw std::logic_error("torch_unfold: no transposed form");
    }
    at::set_num_threads(problem.threads);
  }

  void run() override {
    const ScopedReuseAllocator reuse(reuse_allocator_.get());  // --alloc none
    result_.reset();
    switch (direction_) {
      case Direction::forward:
        result_ = forward(src_, weight_);
        break;
      case Direction::backward_data:
        src_.mutable_grad() = at::Tensor();  // x.grad = None: no accumulation across runs
        forward(src_, weight_).backward(diff_dst_);
        result_ = src_.grad();
        break;
      case Direction::backward_weights:
        weight_.mutable_grad() = at::Tensor();
        forward(src_, weight_).backward(diff_dst_);
        result_ = weight_.grad();
        break;
      case Direction::transposed:
        break;
    }
  }

  const float* result() override {
    if (!result_.is_contiguous()) result_ = result_.contiguous();  // only for the check, never timed
    return result_.data_ptr<float>();
  }

 private:
  // y (N, K, out...) of x (N, C, in...) and w (K, C/G, k...), steps 1-4 above.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& w) const {
    const int dims = layer_.spatial_dims;
    const std::int64_t groups = layer_.group_count;
    const std::vector<std::int64_t> kernel = used(layer_, layer_.kernel);
    const std::vector<std::int64_t> stride = used(layer_, layer_.strides);
    const std::vector<std::int64_t> dilation = used(layer_, layer_.dilations);
    const std::vector<std::int64_t> padding = used(layer_, layer_.paddings);

    std::vector<std::int64_t> pad;  // constant_pad_nd: the last axis first, (before, after) each
    for (int axis = dims - 1; axis >= 0; --axis) {
      pad.insert(pad.end(), {padding[axis], padding[axis]});
    }
    at::Tensor windows = at::constant_pad_nd(x, pad, pad_value_);
    for (int axis = 0; axis < dims; ++axis) {  // (N, C, out..., k...)
      const std::int64_t span = dilation[axis] * (kernel[axis] - 1) + 1;
      windows = windows.unfold(2 + axis, span, stride[axis]);
      if (dilation[axis] > 1) windows = windows.slice(-1, 0, span, dilation[axis]);
    }
    const at::IntArrayRef sizes = windows.sizes();
    const std::vector<std::int64_t> out(sizes.begin() + 2, sizes.begin() + 2 + dims);

    const std::int64_t group_in = layer_.in_channels / groups;
    const std::int64_t group_out = layer_.out_channels / groups;
    std::vector<std::int64_t> window_shape{layer_.batch, groups, 1, group_in};
    std::vector<std::int64_t> weight_shape{1, groups, group_out, group_in};
    window_shape.insert(window_shape.end(), out.begin(), out.end());
    weight_shape.insert(weight_shape.end(), std::size_t(dims), 1);
    window_shape.insert(window_shape.end(), kernel.begin(), kernel.end());
    weight_shape.insert(weight_shape.end(), kernel.begin(), kernel.end());
    // (N, G, K/G, C/G, out..., k...)
    at::Tensor combined = combine_(windows.reshape(window_shape), w.reshape(weight_shape));

    at::Tensor reduced;  // (N, G, K/G, out...)
    std::vector<std::int64_t> window_axes{3};
    for (int axis = 0; axis < dims; ++axis) window_axes.push_back(4 + dims + axis);
    const bool routed = is_gradient(direction_);  // max / min: to the first extreme (see above)
    switch (reduce_) {
      case fastconv::Reduce::sum: reduced = combined.sum(window_axes); break;
      case fastconv::Reduce::logsumexp: reduced = combined.logsumexp(window_axes); break;
      case fastconv::Reduce::max:
        if (!routed) {
          reduced = combined.amax(window_axes);
          break;
        }
        reduced = combined;
        for (int axis = 0; axis < dims; ++axis) reduced = std::get<0>(reduced.max(-1));
        reduced = std::get<0>(reduced.max(3));
        break;
      case fastconv::Reduce::min:
        if (!routed) {
          reduced = combined.amin(window_axes);
          break;
        }
        reduced = combined;
        for (int axis = 0; axis < dims; ++axis) reduced = std::get<0>(reduced.min(-1));
        reduced = std::get<0>(reduced.min(3));
        break;
    }
    std::vector<std::int64_t> y_shape{layer_.batch, layer_.out_channels};
    y_shape.insert(y_shape.end(), out.begin(), out.end());
    return reduced.reshape(y_shape);
  }

  std::unique_ptr<ReuseAllocator> reuse_allocator_;  // --alloc none; outlives the tensors below
  Layer layer_;
  Direction direction_;
  CombineFn combine_;
  fastconv::Reduce reduce_;
  double pad_value_;
  at::Tensor src_;
  at::Tensor weight_;
  at::Tensor diff_dst_;
  at::Tensor result_;
};

class TorchUnfoldPeer final : public Peer {
 public:
  std::string name() const override { return "torch_unfold"; }
  std::unique_ptr<PeerLayer> prepare(const PeerProblem& problem) const override {
    const fastconv::InnerOp& op = problem.op;
    const std::string op_name = op.table().name;
    if (problem.direction == Direction::transposed) {
      throw PeerUnsupported("torch_unfold: the unfold recipe computes forward convolutions and "
                            "their gradients; the transposed convolution is the plain "
                            "convolution's adjoint (the torch peer times it)");
    }
    if (problem.layer.spatial_dims < 1 || problem.layer.spatial_dims > 3) {
      throw PeerUnsupported("torch_unfold: 1-D, 2-D or 3-D layers only");
    }
    const Recipe* recipe = nullptr;
    for (const Recipe& entry : kRecipes) {
      if (entry.op == op_name) recipe = &entry;
    }
    if (recipe == nullptr || op.table().param_count != 0 ||
        op.epilogue_kind() != fastconv::EpilogueKind::bias) {
      throw PeerUnsupported("torch_unfold: no unfold recipe for " + op.description() +
                            " (peers/torch_unfold_peer.cpp has one per catalog operation, without "
                            "parameters, with the bias epilogue)");
    }
    if (is_gradient(problem.direction) && !recipe->autograd_is_its_gradient) {
      throw PeerUnsupported("torch_unfold: " + op_name +
                            "'s gradients are AdderNet's surrogates (dx = clamp(w - x, -1, 1), "
                            "dw = x - w); the recipe's autograd gives the true gradient of "
                            "-|x - w| (abs_diff_sum's)");
    }
    const std::vector<std::int64_t> padding = used(problem.layer, problem.layer.paddings);
    const bool padded =
        std::any_of(padding.begin(), padding.end(), [](std::int64_t size) { return size > 0; });
    if (problem.direction == Direction::backward_weights && padded && std::isinf(op.pad_value()) &&
        recipe->weight_gradient_nan_at_infinite_pad) {
      throw PeerUnsupported("torch_unfold: with an infinite pad value, autograd's weight "
                            "gradient of " + op_name + " is 0 * inf = NaN at the padded positions "
                            "the reduce gives no weight, where the catalog's term adds nothing: "
                            "no finite result to compare");
    }
    const double temporary_bytes = 4.0 * direct_pair_count(problem.layer);
    const double available = available_memory_bytes();
    if (available > 0.0 && 4.0 * temporary_bytes > available) {
      std::ostringstream message;
      message << std::fixed << std::setprecision(2)
              << "torch_unfold: the recipe's broadcast temporary (N, K, out..., C/groups, k...) "
                 "alone is "
              << temporary_bytes / double(1 << 30) << " GiB; 4 of them (alive at once in its "
              << "steps and autograd) exceed the available memory, "
              << available / double(1 << 30) << " GiB";
      throw PeerUnsupported(message.str());
    }
    return std::make_unique<TorchUnfoldLayer>(problem, *recipe);
  }
};

}  // namespace

std::unique_ptr<Peer> make_torch_unfold_peer() { return std::make_unique<TorchUnfoldPeer>(); }

}  // namespace fastconv_bench
