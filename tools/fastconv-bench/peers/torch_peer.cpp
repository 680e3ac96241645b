// torch_peer.cpp — PyTorch's own forward convolution through libtorch (ATen), as F.conv1d/2d/3d.
//
// src and weight are wrapped without a copy (at::from_blob) as contiguous float32 tensors; each
// run() calls at::conv1d / conv2d / conv3d, which allocates its output as F.conv*d does (that
// allocation is part of the timed call). The thread count is set with at::set_num_threads.
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

class TorchLayer final : public PeerLayer {
 public:
  explicit TorchLayer(const PeerProblem& problem)
      : layer_(problem.layer),
        src_(at::from_blob(const_cast<float*>(problem.src), src_shape(problem.layer),
                           at::TensorOptions().dtype(at::kFloat))),
        weight_(at::from_blob(const_cast<float*>(problem.weight), weight_shape(problem.layer),
                              at::TensorOptions().dtype(at::kFloat))),
        stride_(used(layer_, layer_.strides)),
        padding_(used(layer_, layer_.paddings)),
        dilation_(used(layer_, layer_.dilations)) {
    at::set_num_threads(problem.threads);
  }

  void run() override {
    const at::Tensor no_bias;
    switch (layer_.spatial_dims) {
      case 1:
        dst_ = at::conv1d(src_, weight_, no_bias, stride_, padding_, dilation_, layer_.group_count);
        break;
      case 2:
        dst_ = at::conv2d(src_, weight_, no_bias, stride_, padding_, dilation_, layer_.group_count);
        break;
      default:
        dst_ = at::conv3d(src_, weight_, no_bias, stride_, padding_, dilation_, layer_.group_count);
        break;
    }
  }

  const float* dst() override {
    if (!dst_.is_contiguous()) dst_ = dst_.contiguous();  // only for the check, never timed
    return dst_.data_ptr<float>();
  }

 private:
  Layer layer_;
  at::Tensor src_;
  at::Tensor weight_;
  std::vector<std::int64_t> stride_;
  std::vector<std::int64_t> padding_;
  std::vector<std::int64_t> dilation_;
  at::Tensor dst_;
};

class TorchPeer final : public Peer {
 public:
  std::string name() const override { return "torch"; }
  std::unique_ptr<PeerLayer> prepare(const PeerProblem& problem) const override {
    if (problem.layer.spatial_dims < 1 || problem.layer.spatial_dims > 3) {
      throw std::invalid_argument("torch peer: 1-D, 2-D or 3-D layers only");
    }
    return std::make_unique<TorchLayer>(problem);
  }
};

}  // namespace

std::unique_ptr<Peer> make_torch_peer() { return std::make_unique<TorchPeer>(); }

}  // namespace fastconv_bench
