// reference_conv.cpp — direct convolution loops with double accumulation.
//
// Index relation (per spatial axis): input position i = o * stride - pad_begin + k * dilation
// for output position o and kernel offset k. Padding is explicit zeros that take part in the
// products (so 0 * Inf gives NaN, as with any zero-padded input).
#include "engines/reference/reference_conv.hpp"

#include "core/parallel.hpp"
#include "core/profile.hpp"
#include "engines/reference/reference_inner_op.hpp"

namespace fastconv::detail {
namespace {

// Input position of output position `o` and kernel offset `k` on `axis`.
inline std::int64_t input_position(const ConvGeometry& g, int axis, std::int64_t o, std::int64_t k) {
  return o * g.stride[axis] - g.pad_begin[axis] + k * g.dilation[axis];
}

// Output position whose kernel offset `k` reads input position `i`, or -1 when none does.
inline std::int64_t output_position(const ConvGeometry& g, int axis, std::int64_t i, std::int64_t k) {
  const std::int64_t scaled = i + g.pad_begin[axis] - k * g.dilation[axis];
  if (scaled < 0 || scaled % g.stride[axis] != 0) return -1;
  const std::int64_t o = scaled / g.stride[axis];
  return o < g.out[axis] ? o : -1;
}

inline bool inside(const ConvGeometry& g, int axis, std::int64_t i) { return i >= 0 && i < g.in[axis]; }

template <typename T>
void forward(const ConvGeometry& g, const ConvOperands<T>& x, int threads) {
  const std::int64_t cg = g.in_channels_per_group(), kg = g.out_channels_per_group();
#pragma omp parallel for collapse(2) schedule(dynamic) num_threads(threads_for_work(g.multiply_adds(), threads))
  for (std::int64_t n = 0; n < g.batch; ++n) {
    for (std::int64_t k = 0; k < g.out_channels; ++k) {
      const ProfileScope scope(Phase::microkernel);
      const std::int64_t c0 = k / kg * cg;
      for (std::int64_t od = 0; od < g.out[0]; ++od)
      for (std::int64_t oh = 0; oh < g.out[1]; ++oh)
      for (std::int64_t ow = 0; ow < g.out[2]; ++ow) {
        double sum = x.bias.data ? double(x.bias[k]) : 0.0;
        for (std::int64_t c = 0; c < cg; ++c)
        for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd)
        for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
        for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const std::int64_t id = input_position(g, 0, od, kd), ih = input_position(g, 1, oh, kh),
                             iw = input_position(g, 2, ow, kw);
          const bool in_image = inside(g, 0, id) && inside(g, 1, ih) && inside(g, 2, iw);
          const double value = in_image ? double(x.src.at(n, c0 + c, id, ih, iw)) : 0.0;
          sum += value * double(x.weight.at(k, c, kd, kh, kw));
        }
        x.dst.at(n, k, od, oh, ow) = T(sum);
      }
    }
  }
}

template <typename T>
void backward_data(const ConvGeometry& g, const ConvOperands<T>& x, int threads) {
  const std::int64_t cg = g.in_channels_per_group(), kg = g.out_channels_per_group();
#pragma omp parallel for collapse(2) schedule(dynamic) num_threads(threads_for_work(g.multiply_adds(), threads))
  for (std::int64_t n = 0; n < g.batch; ++n) {
    for (std::int64_t c = 0; c < g.in_channels; ++c) {
      const ProfileScope scope(Phase::microkernel);
      const std::int64_t group = c / cg, c_in_group = c % cg;
      for (std::int64_t id = 0; id < g.in[0]; ++id)
      for (std::int64_t ih = 0; ih < g.in[1]; ++ih)
      for (std::int64_t iw = 0; iw < g.in[2]; ++iw) {
        double sum = x.bias.data ? double(x.bias[c]) : 0.0;
        for (std::int64_t k = group * kg; k < (group + 1) * kg; ++k)
        for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd)
        for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
        for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const std::int64_t od = output_position(g, 0, id, kd), oh = output_position(g, 1, ih, kh),
                             ow = output_position(g, 2, iw, kw);
          if (od < 0 || oh < 0 || ow < 0) continue;
          sum += double(x.dst.at(n, k, od, oh, ow)) * double(x.weight.at(k, c_in_group, kd, kh, kw));
        }
        x.src.at(n, c, id, ih, iw) = T(sum);
      }
    }
  }
}

template <typename T>
void backward_weights(const ConvGeometry& g, const ConvOperands<T>& x, int threads) {
  const std::int64_t cg = g.in_channels_per_group(), kg = g.out_channels_per_group();
#pragma omp parallel for collapse(2) schedule(dynamic) num_threads(threads_for_work(g.multiply_adds(), threads))
  for (std::int64_t k = 0; k < g.out_channels; ++k) {
    for (std::int64_t c = 0; c < cg; ++c) {
      const ProfileScope scope(Phase::microkernel);
      const std::int64_t c_src = k / kg * cg + c;
      for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd)
      for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
      for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw) {
        double sum = 0.0;
        for (std::int64_t n = 0; n < g.batch; ++n)
        for (std::int64_t od = 0; od < g.out[0]; ++od)
        for (std::int64_t oh = 0; oh < g.out[1]; ++oh)
        for (std::int64_t ow = 0; ow < g.out[2]; ++ow) {
          const std::int64_t id = input_position(g, 0, od, kd), ih = input_position(g, 1, oh, kh),
                             iw = input_position(g, 2, ow, kw);
          const bool in_image = inside(g, 0, id) && inside(g, 1, ih) && inside(g, 2, iw);
          const double value = in_image ? double(x.src.at(n, c_src, id, ih, iw)) : 0.0;
          sum += value * double(x.dst.at(n, k, od, oh, ow));
        }
        x.weight.at(k, c, kd, kh, kw) = T(sum);
      }
    }
  }
  if (x.bias.data) {
    const ProfileScope scope(Phase::epilogue);
    for (std::int64_t k = 0; k < g.out_channels; ++k) {
      double sum = 0.0;
      for (std::int64_t n = 0; n < g.batch; ++n)
      for (std::int64_t od = 0; od < g.out[0]; ++od)
      for (std::int64_t oh = 0; oh < g.out[1]; ++oh)
      for (std::int64_t ow = 0; ow < g.out[2]; ++ow) sum += double(x.dst.at(n, k, od, oh, ow));
      x.bias[k] = T(sum);
    }
  }
}

class PreparedReference final : public TypedPreparedConv<PreparedReference> {
 public:
  static constexpr Engine kEngine = Engine::reference;
  using TypedPreparedConv::TypedPreparedConv;
  std::size_t workspace_bytes() const override { return 0; }
  template <typename T>
  void run_typed(const ConvOperands<T>& operands, void*, int threads) const {
    if (!problem().convolution()) {
      const InnerOp& op = *problem().op;
      switch (direction()) {
        case Direction::forward: reference_op_forward(geometry(), op, operands, threads); break;
        case Direction::backward_data: reference_op_backward_data(geometry(), op, operands, threads); break;
        case Direction::backward_weights: reference_op_backward_weights(geometry(), op, operands, threads); break;
      }
      return;
    }
    switch (direction()) {
      case Direction::forward: forward(geometry(), operands, threads); break;
      case Direction::backward_data: backward_data(geometry(), operands, threads); break;
      case Direction::backward_weights: backward_weights(geometry(), operands, threads); break;
    }
  }
};

class ReferenceEngine final : public ConvEngine {
 public:
  Engine id() const override { return Engine::reference; }
  Preparation prepare(const ConvProblem& problem) const override {
    return Preparation::take(std::make_unique<PreparedReference>(problem));
  }
};

}  // namespace

const ConvEngine& reference_engine() {
  static const ReferenceEngine engine;
  return engine;
}

}  // namespace fastconv::detail
