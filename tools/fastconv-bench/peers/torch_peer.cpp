// torch_peer.cpp — PyTorch's own convolution through libtorch (ATen), every direction, as a
// PyTorch user's call makes it:
//   fwd         at::conv1d / conv2d / conv3d (F.conv*d);
//   bwd_d       at::convolution_backward(..., output_mask {1, 0, 0}): the input gradient;
//   bwd_w       at::convolution_backward(..., output_mask {0, 1, 0}): the weight gradient;
//   transposed  at::convolution(..., transposed = true, output_padding) (F.conv_transpose*d).
// The input buffers are wrapped without a copy (at::from_blob). convolution_backward also takes
// the tensor whose gradient it is not computing, for its shape: that one is allocated once in
// prepare() (an autograd user has it anyway). Each run() allocates its output as PyTorch does
// (that allocation is part of the timed call). The thread count is set with at::set_num_threads.
// Only the plain convolution: other inner operations (--op) are skipped rows
// (convolution_only_reason); their PyTorch baseline is the torch_unfold peer.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <stdexcept>
#include <vector>

#include "peers/peer.hpp"

namespace fastconv_bench {
namespace {

std::vector<std::int64_t> used(const Layer& layer, const fastconv::SpatialArray& values) {
  return {values.begin(), values.begin() + layer.spatial_dims};
}

// The buffer of `role` wrapped as a tensor, or a new one of its shape when it is the output.
at::Tensor wrap_or_allocate(const Layer& layer, Role role, const float* data) {
  const at::TensorOptions options = at::TensorOptions().dtype(at::kFloat);
  if (data == nullptr) return at::empty(role_shape(layer, role), options);
  return at::from_blob(const_cast<float*>(data), role_shape(layer, role), options);
}

class TorchLayer final : public PeerLayer {
 public:
  explicit TorchLayer(const PeerProblem& problem)
      : layer_(problem.layer),
        direction_(problem.direction),
        src_(wrap_or_allocate(layer_, Role::src, problem.src)),
        weight_(wrap_or_allocate(layer_, Role::weight, problem.weight)),
        dst_(wrap_or_allocate(layer_, Role::dst, problem.dst)),
        stride_(used(layer_, layer_.strides)),
        padding_(used(layer_, layer_.paddings)),
        dilation_(used(layer_, layer_.dilations)) {
    const fastconv::ConvParams params = conv_params(layer_, direction_);
    output_padding_ = used(layer_, params.output_paddings);
    no_output_padding_.assign(output_padding_.size(), 0);
    at::set_num_threads(problem.threads);
  }

  void run() override {
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
  std::string name() const override { return "torch"; }
  std::unique_ptr<PeerLayer> prepare(const PeerProblem& problem) const override {
    if (!problem.op.is_convolution()) throw PeerUnsupported(convolution_only_reason(name(), problem.op));
    if (problem.layer.spatial_dims < 1 || problem.layer.spatial_dims > 3) {
      throw PeerUnsupported("torch peer: 1-D, 2-D or 3-D layers only");
    }
    return std::make_unique<TorchLayer>(problem);
  }
};

}  // namespace

std::unique_ptr<Peer> make_torch_peer() { return std::make_unique<TorchPeer>(); }

}  // namespace fastconv_bench
