// onednn_peer.cpp — oneDNN's convolutions (C++ API), every direction, three ways (three peers):
//   fwd         convolution_forward (forward_inference);
//   bwd_d       convolution_backward_data (with a forward_training hint);
//   bwd_w       convolution_backward_weights (with a forward_training hint);
//   transposed  deconvolution_forward (forward_inference), weights read as (G)IO(D)(H)W.
// Every primitive takes memory formats `any`, i.e. chosen by oneDNN (blocked layouts such as
// nChw16c).
//   onednn           convolution_direct, as a user with NCHW tensors runs it: reorders from the
//                    caller's plain buffers into the primitive's formats and from its output back
//                    to the plain layout, all inside run() (what such a user pays on every call,
//                    as PyTorch's CPU convolution does).
//   onednn_blocked   convolution_direct as a oneDNN-native network runs it in its steady state:
//                    every input (weights included) reordered once in prepare(), the output left
//                    in the primitive's layout; run() is the primitive alone.
//   onednn_winograd  the same with convolution_winograd (deconvolution_winograd), where oneDNN
//                    implements it; where it does not (dnnl_unimplemented: oneDNN 2.6 has x86
//                    Winograd for AVX-512 3x3 stride-1 layers only), prepare() throws
//                    PeerUnsupported with the reason (a skipped row).
// The blocked peers' result() reorders the output to the plain layout for the check, outside
// run(). With PeerProblem::allocate_output, run() allocates the memory it writes the output to
// (plain for onednn, the primitive's layout for the others), as a user's call allocates its
// result; otherwise that memory is allocated once in prepare(). Reorder buffers and the
// scratchpad (user-managed) are allocated once in prepare(); workspace_bytes() is their total.
// Debian's libdnnl uses OpenMP, so the thread count is set with omp_set_num_threads(). Only the
// plain convolution: other inner operations (--op) are skipped rows (convolution_only_reason).
#include <omp.h>

#include <numeric>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <stdexcept>
#include <string>
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

enum class Variant { nchw, blocked, winograd };

const char* variant_peer_name(Variant variant) {
  switch (variant) {
    case Variant::nchw: return "onednn";
    case Variant::blocked: return "onednn_blocked";
    case Variant::winograd: return "onednn_winograd";
  }
  return "?";
}

// Why oneDNN 2.6's x86 Winograd (jit_avx512_core_f32_wino_conv_*) cannot take `layer`, as far
// as its known conditions go; empty when none of them fails.
std::string winograd_conditions_failed(const Layer& layer) {
  std::vector<std::string> failed;
  if (layer.spatial_dims != 2) failed.push_back("not 2-D");
  bool three_by_three = true, unit_stride = true, undilated = true;
  for (int axis = 0; axis < layer.spatial_dims; ++axis) {
    three_by_three = three_by_three && layer.kernel[axis] == 3;
    unit_stride = unit_stride && layer.strides[axis] == 1;
    undilated = undilated && layer.dilations[axis] == 1;
  }
  if (!three_by_three) failed.push_back("kernel not 3x3");
  if (!unit_stride) failed.push_back("stride not 1");
  if (!undilated) failed.push_back("dilated");
  if (layer.group_count != 1) failed.push_back("grouped");
  if (layer.in_channels % 16 != 0 || layer.out_channels % 16 != 0) {
    failed.push_back("channels not multiples of 16");
  }
  std::string text;
  for (const std::string& reason : failed) text += (text.empty() ? "" : ", ") + reason;
  return text;
}

class OneDnnLayer final : public PeerLayer {
 public:
  OneDnnLayer(const PeerProblem& problem, Variant variant)
      : threads_(problem.threads),
        variant_(variant),
        allocate_output_(problem.allocate_output),
        engine_(dnnl::engine::kind::cpu, 0),
        stream_(engine_) {
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
    const bool winograd = variant == Variant::winograd;
    const algorithm conv_algorithm =
        winograd ? algorithm::convolution_winograd : algorithm::convolution_direct;
    auto forward_desc = [&](prop_kind kind) {
      return dnnl::convolution_forward::desc(kind, conv_algorithm, any(src_desc),
                                             any(weight_desc), memory::desc(), any(dst_desc),
                                             strides, dilations, padding, padding);
    };

    memory::desc scratchpad_desc;
    try {
      switch (problem.direction) {
        case Direction::forward: {
          const dnnl::convolution_forward::primitive_desc pd(
              forward_desc(prop_kind::forward_inference), attr, engine_);
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
          const dnnl::convolution_backward_data::desc desc(conv_algorithm, any(src_desc),
                                                           any(weight_desc), any(dst_desc),
                                                           strides, dilations, padding, padding);
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
          const dnnl::convolution_backward_weights::desc desc(conv_algorithm, any(src_desc),
                                                              any(weight_desc), any(dst_desc),
                                                              strides, dilations, padding, padding);
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
              prop_kind::forward_inference,
              winograd ? algorithm::deconvolution_winograd : algorithm::deconvolution_direct,
              any(dst_desc), any(deconv_weights), memory::desc(), any(src_desc), strides,
              dilations, padding, padding_right);
          const dnnl::deconvolution_forward::primitive_desc pd(desc, attr, engine_);
          primitive_ = dnnl::deconvolution_forward(pd);
          add_input(DNNL_ARG_SRC, dst_desc, problem.dst, pd.src_desc());
          add_input(DNNL_ARG_WEIGHTS, deconv_weights, problem.weight, pd.weights_desc());
          set_output(DNNL_ARG_DST, src_desc, pd.dst_desc());
          scratchpad_desc = pd.scratchpad_desc();
          break;
        }
      }
    } catch (const dnnl::error& error) {
      if (!winograd || error.status != dnnl_unimplemented) throw;
      const std::string conditions = winograd_conditions_failed(layer);
      throw PeerUnsupported(
          std::string("onednn_winograd: oneDNN ") + std::to_string(dnnl::version()->major) + "." +
          std::to_string(dnnl::version()->minor) +
          " has no convolution_winograd for this problem (dnnl_unimplemented" +
          (conditions.empty() ? std::string("; its x86 Winograd needs AVX-512 and a 2-D 3x3 "
                                            "stride-1 layer")
                              : "; its x86 Winograd needs AVX-512 and a 2-D 3x3 stride-1 "
                                "ungrouped layer, this one: " + conditions) +
          ")");
    }
    const memory scratchpad(scratchpad_desc, engine_);
    workspace_bytes_ += scratchpad_desc.get_size();
    arguments_[DNNL_ARG_SCRATCHPAD] = scratchpad;
    stream_.wait();  // the blocked peers' one-time input reorders
  }

  void run() override {
    omp_set_num_threads(threads_);
    for (Reorder& in : input_reorders_) in.reorder.execute(stream_, in.from, in.to);
    if (allocate_output_) {  // as a user's call does: the previous output freed, a new one made
      if (!output_reorder_) arguments_.erase(output_arg_);
      output_ = memory();
      output_ = memory(output_desc_, engine_);
    }
    if (output_reorder_) {
      primitive_.execute(stream_, arguments_);
      output_reorder_->reorder.execute(stream_, output_reorder_->from, output_);
    } else {
      arguments_[output_arg_] = output_;
      primitive_.execute(stream_, arguments_);
    }
    stream_.wait();
  }

  // The last run()'s output in the plain layout: the blocked peers' is reordered here, outside
  // the timed run().
  const float* result() override {
    if (output_desc_ == user_output_desc_) return static_cast<const float*>(output_.get_data_handle());
    if (!plain_output_) plain_output_ = memory(user_output_desc_, engine_);
    dnnl::reorder(output_, plain_output_).execute(stream_, output_, plain_output_);
    stream_.wait();
    return static_cast<const float*>(plain_output_.get_data_handle());
  }
  std::size_t workspace_bytes() const override { return workspace_bytes_; }

 private:
  struct Reorder {
    dnnl::reorder reorder;
    memory from, to;
  };

  // The primitive reads argument `arg` in layout `wanted` from the caller's buffer `data`
  // (layout `user`): directly when the layouts agree, else through a buffer in layout `wanted`,
  // filled by a reorder on every run() (onednn) or once now (the blocked peers).
  void add_input(int arg, const memory::desc& user, const float* data, const memory::desc& wanted) {
    if (data == nullptr) throw std::logic_error("onednn peer: missing input buffer");
    memory user_memory(user, engine_, const_cast<float*>(data));
    if (user == wanted) {
      arguments_[arg] = user_memory;
      return;
    }
    memory converted(wanted, engine_);
    workspace_bytes_ += wanted.get_size();
    const dnnl::reorder reorder(user_memory, converted);
    if (variant_ == Variant::nchw) {
      input_reorders_.push_back({reorder, user_memory, converted});
    } else {
      reorder.execute(stream_, user_memory, converted);
    }
    arguments_[arg] = converted;
  }

  // The primitive writes argument `arg` in layout `produced`; the caller's layout is `user`.
  // onednn's output is in `user` (through a reorder of a buffer in `produced` when they differ);
  // the blocked peers' stays in `produced`.
  void set_output(int arg, const memory::desc& user, const memory::desc& produced) {
    output_arg_ = arg;
    user_output_desc_ = user;
    output_desc_ = variant_ == Variant::nchw ? user : produced;
    output_ = memory(output_desc_, engine_);
    if (output_desc_ == produced) return;
    const memory produced_memory(produced, engine_);
    workspace_bytes_ += produced.get_size();
    output_reorder_ = Reorder{dnnl::reorder(produced_memory, output_), produced_memory, output_};
    arguments_[arg] = produced_memory;
  }

  int threads_;
  Variant variant_;
  bool allocate_output_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::primitive primitive_;
  std::unordered_map<int, memory> arguments_;
  std::vector<Reorder> input_reorders_;  // onednn only
  std::optional<Reorder> output_reorder_;  // onednn only: the primitive's layout to the plain one
  int output_arg_ = DNNL_ARG_DST;
  memory::desc output_desc_;       // the layout of output_
  memory::desc user_output_desc_;  // the plain layout
  memory output_;                  // the last run()'s output
  memory plain_output_;            // the blocked peers': output_ reordered for result()
  std::size_t workspace_bytes_ = 0;
};

class OneDnnPeer final : public Peer {
 public:
  explicit OneDnnPeer(Variant variant) : variant_(variant) {}
  std::string name() const override { return variant_peer_name(variant_); }
  std::unique_ptr<PeerLayer> prepare(const PeerProblem& problem) const override {
    if (!problem.op.is_convolution()) throw PeerUnsupported(convolution_only_reason(name(), problem.op));
    return std::make_unique<OneDnnLayer>(problem, variant_);
  }

 private:
  Variant variant_;
};

}  // namespace

std::unique_ptr<Peer> make_onednn_peer() { return std::make_unique<OneDnnPeer>(Variant::nchw); }
std::unique_ptr<Peer> make_onednn_blocked_peer() {
  return std::make_unique<OneDnnPeer>(Variant::blocked);
}
std::unique_ptr<Peer> make_onednn_winograd_peer() {
  return std::make_unique<OneDnnPeer>(Variant::winograd);
}

}  // namespace fastconv_bench
