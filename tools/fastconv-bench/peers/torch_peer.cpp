// torch_peer.cpp — PyTorch's own convolution through libtorch (ATen), every direction, as a
// PyTorch user's call makes it:
//   fwd         at::conv1d / conv2d / conv3d (F.conv*d);
//   bwd_d       at::convolution_backward(..., output_mask {1, 0, 0}): the input gradient;
//   bwd_w       at::convolution_backward(..., output_mask {0, 1, 0}): the weight gradient;
//   transposed  at::convolution(..., transposed = true, output_padding) (F.conv_transpose*d).
// Every call runs under at::NoGradGuard: the forward as users time inference (torch.no_grad()),
// the gradients as the autograd engine runs them (without create_graph, grad mode off).
// Two peers:
//   torch      NCHW tensors: the input buffers wrapped without a copy (at::from_blob);
//   torch_cl   channels_last tensors (at::MemoryFormat::ChannelsLast, ChannelsLast3d for 3-D
//              layers), as a user tuning torch would try: every input converted once in
//              prepare(), outside the timed call; its output is channels_last too, made
//              contiguous by result() for the check. PyTorch has no channels_last form of 1-D
//              (3-dim) tensors: those rows are skipped.
// convolution_backward also takes the tensor whose gradient it is not computing, for its shape:
// that one is allocated once in prepare() (an autograd user has it anyway). Each run()
// allocates its output as PyTorch does (part of the timed call); with
// PeerProblem::allocate_output false (--alloc none) the calls run with a ReuseAllocator
// (torch_reuse_allocator.hpp), which hands freed blocks out again. The thread count is set with
// at::set_num_threads. Only the plain convolution: other inner operations (--op) are skipped
// rows (convolution_only_reason); their PyTorch baseline is the torch_unfold peer.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "peers/peer.hpp"
#include "peers/torch_reuse_allocator.hpp"

namespace fastconv_bench {
namespace {

std::vector<std::int64_t> used(const Layer& layer, const fastconv::SpatialArray& values) {
  return {values.begin(), values.begin() + layer.spatial_dims};
}

// The buffer of `role` wrapped as a tensor, or a new one of its shape when it is the output;
// converted to `format` (a copy) unless that is Contiguous.
at::Tensor wrap_or_allocate(const Layer& layer, Role role, const float* data,
                            at::MemoryFormat format) {
  const at::TensorOptions options = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor tensor = data == nullptr
                                ? at::empty(role_shape(layer, role), options)
                                : at::from_blob(const_cast<float*>(data), role_shape(layer, role), options);
  return format == at::MemoryFormat::Contiguous ? tensor : tensor.contiguous(format);
}

class TorchLayer final : public PeerLayer {
 public:
  TorchLayer(const PeerProblem& problem, at::MemoryFormat format)
      : reuse_allocator_(problem.allocate_output ? nullptr : std::make_unique<ReuseAllocator>(c10::GetAllocator(c10::DeviceType::CPU))),
        layer_(problem.layer),
        direction_(problem.direction),
        src_(wrap_or_allocate(layer_, Role::src, problem.src, format)),
        weight_(wrap_or_allocate(layer_, Role::weight, problem.weight, format)),
        dst_(wrap_or_allocate(layer_, Role::dst, problem.dst, format)),
        stride_(used(layer_, layer_.strides)),
        padding_(used(layer_, layer_.paddings)),
        dilation_(used(layer_, layer_.dilations)) {
    const fastconv::ConvParams params = conv_params(layer_, direction_);
    output_padding_ = used(layer_, params.output_paddings);
    no_output_padding_.assign(output_padding_.size(), 0);
    at::set_num_threads(problem.threads);
  }

  void run() override {
    const ScopedReuseAllocator reuse(reuse_allocator_.get());
    const at::NoGradGuard no_grad;
    result_.reset();  // the previous output is freed inside the call, as a user's loop frees it
    const at::Tensor no_bias;
    const int64_t groups = layer_.group_count;
    switch (direction_) {
      case Direction::forward:
        switch (layer_.spatial_dims) {
          case 1: result_ = at::conv1d(src_, weight_, no_bias, stride_, padding_, dilation_, groups); break;
          case 2: result_ = at::conv2d(src_, weight_, no_bias, stride_, padding_, dilation_, groups); break;
          default: result_ = at::conv3d(src_, weight_, no_bias, stride_, padding_, dilation_, groups); break;
        }
        break;
      case Direction::backward_data:
        result_ = std::get<0>(at::convolution_backward(dst_, src_, weight_, c10::nullopt, stride_,
                                                       padding_, dilation_, false,
                                                       no_output_padding_, groups, {true, false, false}));
        break;
      case Direction::backward_weights:
        result_ = std::get<1>(at::convolution_backward(dst_, src_, weight_, c10::nullopt, stride_,
                                                       padding_, dilation_, false,
                                                       no_output_padding_, groups, {false, true, false}));
        break;
      case Direction::transposed:
        result_ = at::convolution(dst_, weight_, no_bias, stride_, padding_, dilation_, true,
                                  output_padding_, groups);
        break;
    }
  }

  const float* result() override {
    if (!result_.is_contiguous()) result_ = result_.contiguous();  // only for the check, never timed
    return result_.data_ptr<float>();
  }

 private:
  std::unique_ptr<ReuseAllocator> reuse_allocator_;  // --alloc none; outlives the tensors below
  Layer layer_;
  Direction direction_;
  at::Tensor src_;
  at::Tensor weight_;
  at::Tensor dst_;
  std::vector<std::int64_t> stride_;
  std::vector<std::int64_t> padding_;
  std::vector<std::int64_t> dilation_;
  std::vector<std::int64_t> output_padding_;
  std::vector<std::int64_t> no_output_padding_;
  at::Tensor result_;
};

class TorchPeer final : public Peer {
 public:
  explicit TorchPeer(bool channels_last) : channels_last_(channels_last) {}
  std::string name() const override { return channels_last_ ? "torch_cl" : "torch"; }
  std::unique_ptr<PeerLayer> prepare(const PeerProblem& problem) const override {
    if (!problem.op.is_convolution()) throw PeerUnsupported(convolution_only_reason(name(), problem.op));
    const int dims = problem.layer.spatial_dims;
    if (dims < 1 || dims > 3) throw PeerUnsupported(name() + " peer: 1-D, 2-D or 3-D layers only");
    if (!channels_last_) return std::make_unique<TorchLayer>(problem, at::MemoryFormat::Contiguous);
    if (dims == 1) {
      throw PeerUnsupported("torch_cl: PyTorch has no channels_last memory format for 1-D "
                            "(3-dim) tensors");
    }
    return std::make_unique<TorchLayer>(
        problem, dims == 2 ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::ChannelsLast3d);
  }

 private:
  bool channels_last_;
};

}  // namespace

std::unique_ptr<Peer> make_torch_peer() { return std::make_unique<TorchPeer>(false); }
std::unique_ptr<Peer> make_torch_cl_peer() { return std::make_unique<TorchPeer>(true); }

}  // namespace fastconv_bench
