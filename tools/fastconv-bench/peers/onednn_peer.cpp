// onednn_peer.cpp — oneDNN's forward convolution (C++ API), as a user with NCHW tensors runs it.
//
// One convolution_forward primitive (forward_inference, convolution_direct) whose src, weights
// and dst formats are `any`, i.e. chosen by oneDNN (blocked layouts such as nChw16c), plus the
// reorders from the caller's NC(D)(H)W src and (G)OI(D)(H)W weights into those formats and from
// the blocked dst back to NC(D)(H)W. run() executes all of them — the reorders are what a user
// holding NCHW tensors pays on every call, as PyTorch's CPU convolution does. Buffers and the
// scratchpad (user-managed) are allocated once in prepare(); workspace_bytes() is their total.
// Debian's libdnnl uses OpenMP, so the thread count is set with omp_set_num_threads().
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <stdexcept>
#include <vector>

#include "peers/peer.hpp"

namespace fastconv_bench {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

memory::dims used(const Layer& layer, const fastconv::SpatialArray& values, std::int64_t offset) {
  memory::dims dims;
  for (int axis = 0; axis < layer.spatial_dims; ++axis) dims.push_back(values[axis] + offset);
  return dims;
}

Tag activation_tag(int spatial_dims) {
  return spatial_dims == 1 ? Tag::ncw : spatial_dims == 2 ? Tag::nchw : Tag::ncdhw;
}

Tag weight_tag(int spatial_dims, bool grouped) {
  if (grouped) return spatial_dims == 1 ? Tag::goiw : spatial_dims == 2 ? Tag::goihw : Tag::goidhw;
  return spatial_dims == 1 ? Tag::oiw : spatial_dims == 2 ? Tag::oihw : Tag::oidhw;
}

// oneDNN's grouped weights are (G, K/G, C/G, kernel...): the same memory as (K, C/G, kernel...).
memory::dims weight_dims(const Layer& layer) {
  std::vector<std::int64_t> shape = weight_shape(layer);
  if (layer.group_count == 1) return shape;
  shape[0] /= layer.group_count;
  shape.insert(shape.begin(), layer.group_count);
  return shape;
}

class OneDnnLayer final : public PeerLayer {
 public:
  explicit OneDnnLayer(const PeerProblem& problem)
      : threads_(problem.threads), engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
    omp_set_num_threads(threads_);
    const Layer& layer = problem.layer;
    const int dims = layer.spatial_dims;
    const bool grouped = layer.group_count != 1;
    const memory::desc user_src_desc(src_shape(layer), memory::data_type::f32, activation_tag(dims));
    const memory::desc user_weight_desc(weight_dims(layer), memory::data_type::f32,
                                        weight_tag(dims, grouped));
    const memory::desc user_dst_desc(dst_shape(layer), memory::data_type::f32, activation_tag(dims));
    auto any = [](const memory::desc& desc) {
      return memory::desc(desc.dims(), memory::data_type::f32, Tag::any);
    };

    const memory::dims padding = used(layer, layer.paddings, 0);
    const dnnl::convolution_forward::desc conv_desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        any(user_src_desc), any(user_weight_desc), memory::desc(), any(user_dst_desc),
        used(layer, layer.strides, 0), used(layer, layer.dilations, -1),  // oneDNN: dilation - 1
        padding, padding);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::convolution_forward::primitive_desc conv_pd(conv_desc, attr, engine_);
    conv_ = dnnl::convolution_forward(conv_pd);

    user_src_ = memory(user_src_desc, engine_, const_cast<float*>(problem.src));
    user_weight_ = memory(user_weight_desc, engine_, const_cast<float*>(problem.weight));
    user_dst_ = memory(user_dst_desc, engine_);
    conv_src_ = reordered(user_src_, conv_pd.src_desc(), src_reorder_);
    conv_weight_ = reordered(user_weight_, conv_pd.weights_desc(), weight_reorder_);
    if (conv_pd.dst_desc() == user_dst_desc) {
      conv_dst_ = user_dst_;
    } else {
      conv_dst_ = memory(conv_pd.dst_desc(), engine_);
      workspace_bytes_ += conv_pd.dst_desc().get_size();
      dst_reorder_ = dnnl::reorder(conv_dst_, user_dst_);
    }
    scratchpad_ = memory(conv_pd.scratchpad_desc(), engine_);
    workspace_bytes_ += conv_pd.scratchpad_desc().get_size();
  }

  void run() override {
    omp_set_num_threads(threads_);
    if (src_reorder_) src_reorder_->execute(stream_, user_src_, conv_src_);
    if (weight_reorder_) weight_reorder_->execute(stream_, user_weight_, conv_weight_);
    conv_.execute(stream_, {{DNNL_ARG_SRC, conv_src_},
                            {DNNL_ARG_WEIGHTS, conv_weight_},
                            {DNNL_ARG_DST, conv_dst_},
                            {DNNL_ARG_SCRATCHPAD, scratchpad_}});
    if (dst_reorder_) dst_reorder_->execute(stream_, conv_dst_, user_dst_);
    stream_.wait();
  }

  const float* dst() override { return static_cast<const float*>(user_dst_.get_data_handle()); }
  std::size_t workspace_bytes() const override { return workspace_bytes_; }

 private:
  // The memory the primitive reads for `user` in layout `wanted`: `user` itself when the layouts
  // agree, else a new buffer filled by `reorder` on every run().
  memory reordered(const memory& user, const memory::desc& wanted,
                   std::optional<dnnl::reorder>& reorder) {
    if (user.get_desc() == wanted) return user;
    memory converted(wanted, engine_);
    workspace_bytes_ += wanted.get_size();
    reorder = dnnl::reorder(user, converted);
    return converted;
  }

  int threads_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::convolution_forward conv_;
  memory user_src_, user_weight_, user_dst_, conv_src_, conv_weight_, conv_dst_, scratchpad_;
  std::optional<dnnl::reorder> src_reorder_, weight_reorder_, dst_reorder_;
  std::size_t workspace_bytes_ = 0;
};

class OneDnnPeer final : public Peer {
 public:
  std::string name() const override { return "onednn"; }
  std::unique_ptr<PeerLayer> prepare(const PeerProblem& problem) const override {
    return std::make_unique<OneDnnLayer>(problem);
  }
};

}  // namespace

std::unique_ptr<Peer> make_onednn_peer() { return std::make_unique<OneDnnPeer>(); }

}  // namespace fastconv_bench
