// pointwise_engine.cpp — see pointwise_engine.hpp.
#include "engines/pointwise/pointwise_engine.hpp"

#include <algorithm>
#include <array>
#include <memory>

#include "core/aligned_buffer.hpp"
#include "engines/bias.hpp"
#include "gemm/gemm.hpp"

namespace fastconv::detail {
namespace {

// "3x1" for a 2-D kernel of 3x1 (the geometry's leading unused axes are left out).
std::string spatial_string(const ConvGeometry& g, const SpatialArray& values) {
  std::string text;
  for (int axis = 3 - g.spatial_dims; axis < 3; ++axis) {
    if (!text.empty()) text += "x";
    text += std::to_string(values[std::size_t(axis)]);
  }
  return text;
}

// The pixel axes of one (channel) row of both operands: batch, then the output's spatial
// axes. `big` walks the forward convolution's input (src / diff_src: spatial strides scaled
// by the convolution stride), `small` its output (dst / diff_dst).
struct PixelAxes {
  std::array<std::int64_t, 4> size{};
  std::array<std::int64_t, 4> big{};
  std::array<std::int64_t, 4> small{};
};

template <typename T>
PixelAxes pixel_axes(const ConvGeometry& g, const View5<T>& big, const View5<T>& small) {
  PixelAxes axes;
  axes.size = {g.batch, g.out[0], g.out[1], g.out[2]};
  axes.big = {big.strides[0], big.strides[2] * g.stride[0], big.strides[3] * g.stride[1],
              big.strides[4] * g.stride[2]};
  axes.small = {small.strides[0], small.strides[2], small.strides[3], small.strides[4]};
  return axes;
}

// Whether axes [first, last] of `strides` walk as one axis; if so, its stride in `merged`.
bool merges(const PixelAxes& axes, const std::array<std::int64_t, 4>& strides, int first,
            std::int64_t& merged, int last = 3) {
  bool found = false;
  std::int64_t expected = 0;
  merged = 1;
  for (int axis = last; axis >= first; --axis) {
    if (axes.size[std::size_t(axis)] == 1) continue;
    if (!found) {
      merged = strides[std::size_t(axis)];
      found = true;
    } else if (strides[std::size_t(axis)] != expected) {
      return false;
    }
    expected = strides[std::size_t(axis)] * axes.size[std::size_t(axis)];
  }
  return true;
}

// The pixel axes split into an outer loop (axes [0, first)) and one merged inner axis of
// `pixels` elements, merged as far as both operands allow. With `two_level_big`, the big
// operand may walk the inner axis in two levels (a strided convolution's input): W with
// big_stride, the axes above it merged, big_group_stride apart (big_group = W's size).
struct PixelBlocks {
  int first = 3;
  std::int64_t blocks = 1, pixels = 1;
  std::int64_t big_stride = 1, small_stride = 1;
  std::int64_t big_group = 0, big_group_stride = 0;  // big_group 0: one level
};

PixelBlocks pixel_blocks(const PixelAxes& axes, bool two_level_big = false) {
  PixelBlocks result;
  for (int first = 0; first < 4; ++first) {
    std::int64_t big = 1, small = 1, outer = 0;
    if (!merges(axes, axes.small, first, small)) continue;
    if (!merges(axes, axes.big, first, big)) {
      if (!two_level_big || first == 3 || axes.size[3] <= 1 || !merges(axes, axes.big, first, outer, 2)) continue;
      result.big_group = axes.size[3];
      result.big_group_stride = outer;
      big = axes.big[3];
    }
    result.first = first;
    result.big_stride = big;
    result.small_stride = small;
    break;
  }
  for (int axis = 0; axis < 4; ++axis) {
    (axis < result.first ? result.blocks : result.pixels) *= axes.size[std::size_t(axis)];
  }
  if (result.pixels == 0) result.blocks = 0;  // empty batch: no block (its operands may be null)
  return result;
}

// Offsets of outer block `block` (row-major over axes [0, first)) in both operands.
void block_offsets(const PixelAxes& axes, int first, std::int64_t block, std::int64_t& big,
                   std::int64_t& small) {
  big = small = 0;
  for (int axis = first - 1; axis >= 0; --axis) {
    const std::int64_t index = block % axes.size[std::size_t(axis)];
    block /= axes.size[std::size_t(axis)];
    big += index * axes.big[std::size_t(axis)];
    small += index * axes.small[std::size_t(axis)];
  }
}

// Workspace layout: [GEMM packing | bias copy].
template <typename T>
std::size_t gemm_bytes(Direction direction, const ConvGeometry& g, int threads) {
  const std::int64_t cg = g.in_channels_per_group(), kg = g.out_channels_per_group();
  const std::int64_t pixels = g.batch * g.out_pixels();  // an upper bound on one GEMM's pixels
  switch (direction) {
    case Direction::forward: return gemm_workspace_bytes<T>(kg, pixels, cg, threads);
    case Direction::backward_data: return gemm_workspace_bytes<T>(cg, pixels, kg, threads);
    case Direction::backward_weights: return gemm_workspace_bytes<T>(kg, cg, pixels, threads);
  }
  return 0;
}

template <typename T>
std::size_t workspace_size(Direction direction, const ConvGeometry& g, int threads) {
  const std::int64_t channels = std::max(g.in_channels, g.out_channels);
  return align64(gemm_bytes<T>(direction, g, threads)) + align64(std::size_t(channels) * sizeof(T));
}

// The bias as a contiguous array: the view itself when its stride is 1, else a copy.
template <typename T>
const T* contiguous_bias(const Vector1<T>& bias, std::int64_t count, T* scratch) {
  if (!bias.data) return nullptr;
  if (bias.stride == 1) return bias.data;
  for (std::int64_t i = 0; i < count; ++i) scratch[i] = bias[i];
  return scratch;
}

// The weights (K, C/g, 1, 1, 1) of group `group` as a K/g x C/g matrix, or its transpose.
template <typename T>
MatrixView<T> weight_matrix(const ConvGeometry& g, const View5<T>& weight, std::int64_t group,
                            bool transposed) {
  T* data = weight.plane(group * g.out_channels_per_group(), 0);
  if (transposed) return {data, weight.strides[1], weight.strides[0]};
  return {data, weight.strides[0], weight.strides[1]};
}

template <typename T>
MatrixView<T> pixel_matrix(const View5<T>& view, std::int64_t offset, std::int64_t channel,
                           std::int64_t pixel_stride) {
  return {view.data + offset + channel * view.strides[1], view.strides[1], pixel_stride};
}

template <typename T>
MatrixView<const T> as_const(const MatrixView<T>& m) {
  return {m.data, m.row_stride, m.col_stride};
}

template <typename T>
void forward(const ConvGeometry& g, const ConvOperands<T>& x, void* gemm_space, T* bias_space,
             int threads) {
  const std::int64_t cg = g.in_channels_per_group(), kg = g.out_channels_per_group();
  const T* bias = contiguous_bias(x.bias, g.out_channels, bias_space);
  const PixelAxes axes = pixel_axes(g, x.src, x.dst);
  const PixelBlocks blocks = pixel_blocks(axes, true);
  for (std::int64_t block = 0; block < blocks.blocks; ++block) {
    std::int64_t src_offset = 0, dst_offset = 0;
    block_offsets(axes, blocks.first, block, src_offset, dst_offset);
    for (std::int64_t group = 0; group < g.groups; ++group) {
      MatrixView<const T> src = as_const(pixel_matrix(x.src, src_offset, group * cg, blocks.big_stride));
      src.col_group = blocks.big_group;
      src.group_stride = blocks.big_group_stride;
      gemm<T>(kg, blocks.pixels, cg, as_const(weight_matrix(g, x.weight, group, false)), src,
              pixel_matrix(x.dst, dst_offset, group * kg, blocks.small_stride), false,
              bias ? bias + group * kg : nullptr, gemm_space, threads);
    }
  }
}

template <typename T>
void backward_data(const ConvGeometry& g, const ConvOperands<T>& x, void* gemm_space,
                   T* bias_space, int threads) {
  const std::int64_t cg = g.in_channels_per_group(), kg = g.out_channels_per_group();
  // Every input pixel gets exactly one product unless the stride skips some or output_padding
  // adds some; then the others keep the bias (or zero) and the GEMMs accumulate.
  bool every_pixel = true;
  for (std::size_t axis = 0; axis < 3; ++axis)
    every_pixel = every_pixel && g.stride[axis] == 1 && g.in[axis] == g.out[axis];
  if (!every_pixel) fill_with_bias(g, x.src, x.bias);
  const T* bias = every_pixel ? contiguous_bias(x.bias, g.in_channels, bias_space) : nullptr;
  const PixelAxes axes = pixel_axes(g, x.src, x.dst);
  const PixelBlocks blocks = pixel_blocks(axes);
  for (std::int64_t block = 0; block < blocks.blocks; ++block) {
    std::int64_t src_offset = 0, dst_offset = 0;
    block_offsets(axes, blocks.first, block, src_offset, dst_offset);
    for (std::int64_t group = 0; group < g.groups; ++group) {
      gemm<T>(cg, blocks.pixels, kg, as_const(weight_matrix(g, x.weight, group, true)),
              as_const(pixel_matrix(x.dst, dst_offset, group * kg, blocks.small_stride)),
              pixel_matrix(x.src, src_offset, group * cg, blocks.big_stride), !every_pixel,
              bias ? bias + group * cg : nullptr, gemm_space, threads);
    }
  }
}

template <typename T>
void backward_weights(const ConvGeometry& g, const ConvOperands<T>& x, void* gemm_space,
                      int threads) {
  const std::int64_t cg = g.in_channels_per_group(), kg = g.out_channels_per_group();
  const PixelAxes axes = pixel_axes(g, x.src, x.dst);
  const PixelBlocks blocks = pixel_blocks(axes);
  for (std::int64_t group = 0; group < g.groups; ++group) {
    const MatrixView<T> diff_weight = weight_matrix(g, x.weight, group, false);
    if (blocks.blocks == 0) {  // no images: the gradient is zero
      for (std::int64_t k = 0; k < kg; ++k)
        for (std::int64_t c = 0; c < cg; ++c) diff_weight.at(k, c) = T(0);
    }
    for (std::int64_t block = 0; block < blocks.blocks; ++block) {
      std::int64_t src_offset = 0, dst_offset = 0;
      block_offsets(axes, blocks.first, block, src_offset, dst_offset);
      // diff_W_g (+)= diff_dst_g * src_g^T: B(p, c) = src(c, p).
      const MatrixView<T> src = pixel_matrix(x.src, src_offset, group * cg, blocks.big_stride);
      gemm<T>(kg, cg, blocks.pixels,
              as_const(pixel_matrix(x.dst, dst_offset, group * kg, blocks.small_stride)),
              {src.data, src.col_stride, src.row_stride}, diff_weight, block > 0, nullptr,
              gemm_space, threads);
    }
  }
  write_bias_gradient(g, x);
}

class PreparedPointwise final : public TypedPreparedConv<PreparedPointwise> {
 public:
  static constexpr Engine kEngine = Engine::pointwise;
  explicit PreparedPointwise(const ConvProblem& problem)
      : TypedPreparedConv(problem),
        workspace_bytes_(problem.dtype == DType::float32
                             ? workspace_size<float>(problem.direction, problem.geometry, problem.max_threads)
                             : workspace_size<double>(problem.direction, problem.geometry, problem.max_threads)) {}
  std::size_t workspace_bytes() const override { return workspace_bytes_; }
  std::string kernel_name() const override {
    return active_gemm_kernel_name(problem().dtype == DType::float32);
  }
  template <typename T>
  void run_typed(const ConvOperands<T>& operands, void* memory, int threads) const {
    const ConvGeometry& g = geometry();
    void* gemm_space = memory;
    T* bias_space = reinterpret_cast<T*>(static_cast<char*>(memory) +
                                         align64(gemm_bytes<T>(direction(), g, problem().max_threads)));
    switch (direction()) {
      case Direction::forward: forward(g, operands, gemm_space, bias_space, threads); break;
      case Direction::backward_data: backward_data(g, operands, gemm_space, bias_space, threads); break;
      case Direction::backward_weights: backward_weights(g, operands, gemm_space, threads); break;
    }
  }

 private:
  std::size_t workspace_bytes_;
};

// Why the engine declines a problem, or empty.
std::string decline_reason(Direction direction, const ConvGeometry& g) {
  if (g.kernel_volume() != 1) {
    return "kernel " + spatial_string(g, g.kernel) + " is not " + spatial_string(g, SpatialArray{1, 1, 1});
  }
  if (g.pad_begin != SpatialArray{0, 0, 0} || g.pad_end != SpatialArray{0, 0, 0}) {
    return "padding " + spatial_string(g, g.pad_begin) + "/" + spatial_string(g, g.pad_end) +
           " is not zero";
  }
  // Strided: the forward reads its input pixels in two levels (MatrixView's column groups).
  if (g.stride != SpatialArray{1, 1, 1} && direction != Direction::forward) {
    return "stride " + spatial_string(g, g.stride) +
           " is not 1 for a backward direction (per-row GEMMs lose to im2col's subsampled copy)";
  }
  return {};
}

class PointwiseEngine final : public ConvEngine {
 public:
  Engine id() const override { return Engine::pointwise; }
  Preparation prepare(const ConvProblem& problem) const override {
    if (std::string op = decline_unless_convolution(problem); !op.empty()) return Preparation::decline(std::move(op));
    if (std::string reason = decline_reason(problem.direction, problem.geometry); !reason.empty())
      return Preparation::decline(std::move(reason));
    return Preparation::take(std::make_unique<PreparedPointwise>(problem));
  }
};

}  // namespace

const ConvEngine& pointwise_engine() {
  static const PointwiseEngine engine;
  return engine;
}

}  // namespace fastconv::detail
