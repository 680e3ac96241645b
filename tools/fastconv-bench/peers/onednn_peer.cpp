// onednn_peer.cpp — oneDNN's convolutions (C++ API), every direction, as a user with NCHW
// tensors runs them:
//   fwd         convolution_forward (forward_inference);
//   bwd_d       convolution_backward_data (with a forward_training hint);
//   bwd_w       convolution_backward_weights (with a forward_training hint);
//   transposed  deconvolution_forward (forward_inference), weights read as (G)IO(D)(H)W.
// Every primitive uses convolution_direct / deconvolution_direct with memory formats `any`, i.e.
// chosen by oneDNN (blocked layouts such as nChw16c), plus reorders from the caller's plain
// buffers into those formats and from the primitive's output back to the plain layout. run()
// executes all of them — the reorders are what a user holding NCHW tensors pays on every call,
// as PyTorch's CPU convolution does. Buffers and the scratchpad (user-managed) are allocated
// once in prepare(); workspace_bytes() is their total. Debian's libdnnl uses OpenMP, so the
// thread count is set with omp_set_num_threads(). Only the plain convolution: other inner
// operations (--op) are skipped rows (convolution_only_reason).
#include <omp.h>

#include <numeric>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "peers/peer.hpp"

namespace fastconv_bench {
namespace {

using dnnl::memory;

memory::dims used(const Layer& layer, const fastconv::SpatialArray& values, std::int64_t offset) {
  memory::dims dims;
  for (int axis = 0; axis < layer.spatial_dims; ++axis) dims.push_back(values[axis] + offset);
  return dims;
}

// A plain float32 layout of `dims` whose memory order is `order` (outermost first).
memory::desc strided_desc(const memory::dims& dims, const std::vector<int>& order) {
  memory::dims strides(dims.size());
  memory::dim stride = 1;
  for (auto axis = order.rbegin(); axis != order.rend(); ++axis) {
    strides[std::size_t(*axis)] = stride;
    stride *= dims[std::size_t(*axis)];
  }
  return memory::desc(dims, memory::data_type::f32, strides);
}

std::vector<int> identity_order(std::size_t rank) {
  std::vector<int> order(rank);
  std::iota(order.begin(), order.end(), 0);
  return order;
}

memory::desc plain_desc(const memory::dims& dims) { return strided_desc(dims, identity_order(dims.size())); }

memory::desc any(const memory::desc& desc) {
  return memory::desc(desc.dims(), memory::data_type::f32, memory::format_tag::any);
}

// The weight buffer (K, C/g, k...) as oneDNN's convolution weights: (K, C/g, k...) or, grouped,
// (G, K/g, C/g, k...) — the same memory.
memory::desc conv_weight_desc(const Layer& layer) {
  memory::dims dims = weight_shape(layer);
  if (layer.group_count != 1) {
    dims[0] /= layer.group_count;
    dims.insert(dims.begin(), layer.group_count);
  }
  return plain_desc(dims);
}

// The same buffer as deconvolution weights, whose dims are (out = C, in = K, k...) or, grouped,
// (G, C/g, K/g, k...): the memory order has in and out swapped.
memory::desc deconv_weight_desc(const Layer& layer) {
  const std::vector<std::int64_t> shape = weight_shape(layer);  // (K, C/g, k...)
  const std::int64_t groups = layer.group_count;
  memory::dims dims;
  std::vector<int> order;
  const int lead = groups != 1 ? 1 : 0;
  if (lead) dims.push_back(groups);
  dims.push_back(shape[1]);           // out per group = C/g
  dims.push_back(shape[0] / groups);  // in per group = K/g
  for (std::size_t axis = 2; axis < shape.size(); ++axis) dims.push_back(shape[axis]);
  if (lead) order.push_back(0);
  order.push_back(lead + 1);  // K/g outermost within a group
  order.push_back(lead);
  for (std::size_t axis = 2; axis < shape.size(); ++axis) order.push_back(int(axis) + lead);
  return strided_desc(dims, order);
}

class OneDnnLayer final : public PeerLayer {
 public:
  explicit OneDnnLayer(const PeerProblem& problem)
      : threads_(problem.threads), engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
    omp_set_num_threads(threads_);
    const Layer& layer = problem.layer;
    const memory::desc src_desc = plain_desc(src_shape(layer));
    const memory::desc dst_desc = plain_desc(dst_shape(layer));
    const memory::desc weight_desc = conv_weight_desc(layer);
    const memory::dims strides = used(layer, layer.strides, 0);
    const memory::dims dilations = used(layer, layer.dilations, -1);  // oneDNN: dilation - 1
    const memory::dims padding = used(layer, layer.paddings, 0);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    using dnnl::algorithm;
    using dnnl::prop_kind;
    auto forward_desc = [&](prop_kind kind) {
      return dnnl::convolution_forward::desc(kind, algorithm::convolution_direct, any(src_desc),
                                             any(weight_desc), memory::desc(), any(dst_desc),
                                             strides, dilations, padding, padding);
    };

    memory::desc scratchpad_desc;
    switch (problem.direction) {
      case Direction::forward: {
        const dnnl::convolution_forward::primitive_desc pd(forward_desc(prop_kind::forward_inference),
                                                           attr, engine_);
        primitive_ = dnnl::convolution_forward(pd);
        add_input(DNNL_ARG_SRC, src_desc, problem.src, pd.src_desc());
        add_input(DNNL_ARG_WEIGHTS, weight_desc, problem.weight, pd.weights_desc());
        set_output(DNNL_ARG_DST, dst_desc, pd.dst_desc());
        scratchpad_desc = pd.scratchpad_desc();
        break;
      }
      case Direction::backward_data: {
        const dnnl::convolution_forward::primitive_desc hint(
            forward_desc(prop_kind::forward_training), engine_);
        const dnnl::convolution_backward_data::desc desc(algorithm::convolution_direct,
                                                         any(src_desc), any(weight_desc),
                                                         any(dst_desc), strides, dilations,
                                                         padding, padding);
        const dnnl::convolution_backward_data::primitive_desc pd(desc, attr, engine_, hint);
        primitive_ = dnnl::convolution_backward_data(pd);
        add_input(DNNL_ARG_DIFF_DST, dst_desc, problem.dst, pd.diff_dst_desc());
        add_input(DNNL_ARG_WEIGHTS, weight_desc, problem.weight, pd.weights_desc());
        set_output(DNNL_ARG_DIFF_SRC, src_desc, pd.diff_src_desc());
        scratchpad_desc = pd.scratchpad_desc();
        break;
      }
      case Direction::backward_weights: {
        const dnnl::convolution_forward::primitive_desc hint(
            forward_desc(prop_kind::forward_training), engine_);
        const dnnl::convolution_backward_weights::desc desc(algorithm::convolution_direct,
                                                            any(src_desc), any(weight_desc),
                                                            any(dst_desc), strides, dilations,
                                                            padding, padding);
        const dnnl::convolution_backward_weights::primitive_desc pd(desc, attr, engine_, hint);
        primitive_ = dnnl::convolution_backward_weights(pd);
        add_input(DNNL_ARG_SRC, src_desc, problem.src, pd.src_desc());
        add_input(DNNL_ARG_DIFF_DST, dst_desc, problem.dst, pd.diff_dst_desc());
        set_output(DNNL_ARG_DIFF_WEIGHTS, weight_desc, pd.diff_weights_desc());
        scratchpad_desc = pd.scratchpad_desc();
        break;
      }
      case Direction::transposed: {
        // Input dst-shaped, output src-shaped; the right padding absorbs output_padding.
        const fastconv::ConvParams params = conv_params(layer, Direction::transposed);
        memory::dims padding_right = padding;
        for (std::size_t axis = 0; axis < padding_right.size(); ++axis) {
          padding_right[axis] -= params.output_paddings[axis];
        }
        const memory::desc deconv_weights = deconv_weight_desc(layer);
        const dnnl::deconvolution_forward::desc desc(
            prop_kind::forward_inference, algorithm::deconvolution_direct, any(dst_desc),
            any(deconv_weights), memory::desc(), any(src_desc), strides, dilations, padding,
            padding_right);
        const dnnl::deconvolution_forward::primitive_desc pd(desc, attr, engine_);
        primitive_ = dnnl::deconvolution_forward(pd);
        add_input(DNNL_ARG_SRC, dst_desc, problem.dst, pd.src_desc());
        add_input(DNNL_ARG_WEIGHTS, deconv_weights, problem.weight, pd.weights_desc());
        set_output(DNNL_ARG_DST, src_desc, pd.dst_desc());
        scratchpad_desc = pd.scratchpad_desc();
        break;
      }
    }
    const memory scratchpad(scratchpad_desc, engine_);
    workspace_bytes_ += scratchpad_desc.get_size();
    arguments_[DNNL_ARG_SCRATCHPAD] = scratchpad;
  }

  void run() override {
    omp_set_num_threads(threads_);
    for (Reorder& in : input_reorders_) in.reorder.execute(stream_, in.from, in.to);
    primitive_.execute(stream_, arguments_);
    if (output_reorder_) output_reorder_->reorder.execute(stream_, output_reorder_->from, output_reorder_->to);
    stream_.wait();
  }

  const float* result() override { return static_cast<const float*>(user_output_.get_data_handle()); }
  std::size_t workspace_bytes() const override { return workspace_bytes_; }

 private:
  struct Reorder {
    dnnl::reorder reorder;
    memory from, to;
  };

  // The primitive reads argument `arg` in layout `wanted` from the caller's buffer `data`
  // (layout `user`): directly when the layouts agree, else through a buffer filled by a reorder
  // on every run().
  void add_input(int arg, const memory::desc& user, const float* data, const memory::desc& wanted) {
    if (data == nullptr) throw std::logic_error("onednn peer: missing input buffer");
    const memory user_memory(user, engine_, const_cast<float*>(data));
    if (user == wanted) {
      arguments_[arg] = user_memory;
      return;
    }
    const memory converted(wanted, engine_);
    workspace_bytes_ += wanted.get_size();
    input_reorders_.push_back({dnnl::reorder(user_memory, converted), user_memory, converted});
    arguments_[arg] = converted;
  }

  // The primitive writes argument `arg` in layout `produced`; result() is in layout `user`.
  void set_output(int arg, const memory::desc& user, const memory::desc& produced) {
    user_output_ = memory(user, engine_);
    if (user == produced) {
      arguments_[arg] = user_output_;
      return;
    }
    const memory produced_memory(produced, engine_);
    workspace_bytes_ += produced.get_size();
    output_reorder_ = Reorder{dnnl::reorder(produced_memory, user_output_), produced_memory, user_output_};
    arguments_[arg] = produced_memory;
  }

  int threads_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::primitive primitive_;
  std::unordered_map<int, memory> arguments_;
  std::vector<Reorder> input_reorders_;
  std::optional<Reorder> output_reorder_;
  memory user_output_;
  std::size_t workspace_bytes_ = 0;
};

class OneDnnPeer final : public Peer {
 public:
  std::string name() const override { return "onednn"; }
  std::unique_ptr<PeerLayer> prepare(const PeerProblem& problem) const override {
    if (!problem.op.is_convolution()) throw PeerUnsupported(convolution_only_reason(name(), problem.op));
    return std::make_unique<OneDnnLayer>(problem);
  }
};

}  // namespace

std::unique_ptr<Peer> make_onednn_peer() { return std::make_unique<OneDnnPeer>(); }

}  // namespace fastconv_bench
