// im2col_engine.cpp — see im2col_engine.hpp.
#include "engines/im2col/im2col_engine.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "engines/bias.hpp"
#include "gemm/gemm.hpp"
#include "transforms/im2col.hpp"

namespace fastconv::detail {
namespace {

std::size_t align64(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

// Axes [first, 4] of a rank-5 view as one axis: its stride, or nothing when they do not merge.
template <typename T>
std::optional<std::int64_t> merged_stride(const View5<T>& view, int first) {
  std::optional<std::int64_t> stride;
  std::int64_t expected = 0;
  for (int axis = 4; axis >= first; --axis) {
    if (view.shape[axis] == 1) continue;
    if (!stride) {
      stride = view.strides[axis];
    } else if (view.strides[axis] != expected) {
      return std::nullopt;
    }
    expected = view.strides[axis] * view.shape[axis];
  }
  return stride.value_or(1);
}

// Sizes of the GEMMs each direction runs for one (image, group).
struct Sizes {
  std::int64_t cg, kg, rows, pixels;  // rows = C/g * kernel volume
};

Sizes sizes_of(const ConvGeometry& g) {
  return {g.in_channels_per_group(), g.out_channels_per_group(),
          g.in_channels_per_group() * g.kernel_volume(), g.out_pixels()};
}

// Workspace layout: [unfolded image | GEMM packing | weight copy | bias copy].
template <typename T>
struct Workspace {
  T* col;
  void* gemm;
  T* weight;
  T* bias;
};

template <typename T>
std::size_t gemm_bytes(Direction direction, const Sizes& s) {
  switch (direction) {
    case Direction::forward: return gemm_workspace_bytes<T>(s.kg, s.pixels, s.rows);
    case Direction::backward_data: return gemm_workspace_bytes<T>(s.rows, s.pixels, s.kg);
    case Direction::backward_weights: return gemm_workspace_bytes<T>(s.kg, s.rows, s.pixels);
  }
  return 0;
}

template <typename T>
std::size_t workspace_size(Direction direction, const ConvGeometry& g) {
  const Sizes s = sizes_of(g);
  const std::int64_t channels = std::max(g.in_channels, g.out_channels);
  return align64(std::size_t(s.rows * s.pixels) * sizeof(T)) + align64(gemm_bytes<T>(direction, s)) +
         align64(std::size_t(g.out_channels * s.rows) * sizeof(T)) +
         align64(std::size_t(channels) * sizeof(T));
}

template <typename T>
Workspace<T> carve(Direction direction, const ConvGeometry& g, void* memory) {
  const Sizes s = sizes_of(g);
  char* bytes = static_cast<char*>(memory);
  Workspace<T> w;
  w.col = reinterpret_cast<T*>(bytes);
  bytes += align64(std::size_t(s.rows * s.pixels) * sizeof(T));
  w.gemm = bytes;
  bytes += align64(gemm_bytes<T>(direction, s));
  w.weight = reinterpret_cast<T*>(bytes);
  bytes += align64(std::size_t(g.out_channels * s.rows) * sizeof(T));
  w.bias = reinterpret_cast<T*>(bytes);
  return w;
}

// The weights as a K x (C/g * kernel volume) matrix: the view itself when its axes merge,
// otherwise a contiguous copy in `scratch` (copied in when `copy_in`).
template <typename T>
MatrixView<T> weight_matrix(const View5<T>& weight, T* scratch, std::int64_t rows_per_filter,
                            bool copy_in) {
  if (const auto stride = merged_stride(weight, 1)) return {weight.data, weight.strides[0], *stride};
  if (copy_in) {
    std::int64_t i = 0;
    for (std::int64_t k = 0; k < weight.shape[0]; ++k)
      for (std::int64_t c = 0; c < weight.shape[1]; ++c)
        for (std::int64_t d = 0; d < weight.shape[2]; ++d)
          for (std::int64_t h = 0; h < weight.shape[3]; ++h)
            for (std::int64_t x = 0; x < weight.shape[4]; ++x) scratch[i++] = weight.at(k, c, d, h, x);
  }
  return {scratch, rows_per_filter, 1};
}

template <typename T>
void copy_weight_out(const T* scratch, const View5<T>& weight) {
  std::int64_t i = 0;
  for (std::int64_t k = 0; k < weight.shape[0]; ++k)
    for (std::int64_t c = 0; c < weight.shape[1]; ++c)
      for (std::int64_t d = 0; d < weight.shape[2]; ++d)
        for (std::int64_t h = 0; h < weight.shape[3]; ++h)
          for (std::int64_t x = 0; x < weight.shape[4]; ++x) weight.at(k, c, d, h, x) = scratch[i++];
}

// Channels [c_begin, c_begin + rows) of image n of a rank-5 view as a rows x pixels matrix.
// Uses the view directly when the spatial axes merge; otherwise `temp` (resized to fit).
template <typename T>
MatrixView<T> pixel_matrix(const View5<T>& view, std::int64_t n, std::int64_t c_begin,
                           std::optional<std::int64_t> spatial_stride, std::vector<T>& temp,
                           std::int64_t rows) {
  if (spatial_stride) return {view.plane(n, c_begin), view.strides[1], *spatial_stride};
  const std::int64_t pixels = view.shape[2] * view.shape[3] * view.shape[4];
  temp.resize(std::size_t(rows * pixels));
  return {temp.data(), pixels, 1};
}

// Copies between a strided image's channels and a contiguous rows x pixels matrix.
template <typename T>
void copy_pixels(const View5<T>& view, std::int64_t n, std::int64_t c_begin, std::int64_t rows,
                 T* matrix, bool to_view) {
  std::int64_t i = 0;
  for (std::int64_t c = c_begin; c < c_begin + rows; ++c)
    for (std::int64_t d = 0; d < view.shape[2]; ++d)
      for (std::int64_t h = 0; h < view.shape[3]; ++h)
        for (std::int64_t x = 0; x < view.shape[4]; ++x, ++i) {
          T& element = view.at(n, c, d, h, x);
          if (to_view) element = matrix[i]; else matrix[i] = element;
        }
}

template <typename T>
ImageView<T> image_of(const View5<T>& view, std::int64_t n) {
  return {view.plane(n, 0), {view.strides[1], view.strides[2], view.strides[3], view.strides[4]}};
}

template <typename T>
const T* contiguous_bias(const Vector1<T>& bias, std::int64_t count, T* scratch) {
  if (!bias.data) return nullptr;
  for (std::int64_t i = 0; i < count; ++i) scratch[i] = bias[i];
  return scratch;
}

template <typename T>
void forward(const ConvGeometry& g, const ConvOperands<T>& x, const Workspace<T>& w) {
  const Sizes s = sizes_of(g);
  const MatrixView<T> weights = weight_matrix(x.weight, w.weight, s.rows, true);
  const T* bias = contiguous_bias(x.bias, g.out_channels, w.bias);
  const auto dst_stride = merged_stride(x.dst, 2);
  std::vector<T> temp;
  const MatrixView<T> col{w.col, s.pixels, 1};
  for (std::int64_t n = 0; n < g.batch; ++n) {
    for (std::int64_t group = 0; group < g.groups; ++group) {
      const ImageView<const T> image = {image_of(x.src, n).data, image_of(x.src, n).strides};
      im2col(g, image, group * s.cg, (group + 1) * s.cg, col);
      const MatrixView<T> out = pixel_matrix(x.dst, n, group * s.kg, dst_stride, temp, s.kg);
      gemm<T>(s.kg, s.pixels, s.rows,
              {weights.data + group * s.kg * weights.row_stride, weights.row_stride, weights.col_stride},
              {col.data, col.row_stride, col.col_stride}, out, false,
              bias ? bias + group * s.kg : nullptr, w.gemm);
      if (!dst_stride) copy_pixels(x.dst, n, group * s.kg, s.kg, temp.data(), true);
    }
  }
}

template <typename T>
void backward_data(const ConvGeometry& g, const ConvOperands<T>& x, const Workspace<T>& w) {
  const Sizes s = sizes_of(g);
  const MatrixView<T> weights = weight_matrix(x.weight, w.weight, s.rows, true);
  const auto dst_stride = merged_stride(x.dst, 2);
  std::vector<T> temp;
  const MatrixView<T> col{w.col, s.pixels, 1};
  // diff_src starts as the bias (transposed convolution) or zero, then folds accumulate.
  fill_with_bias(g, x.src, x.bias);
  for (std::int64_t n = 0; n < g.batch; ++n) {
    for (std::int64_t group = 0; group < g.groups; ++group) {
      const MatrixView<T> diff = pixel_matrix(x.dst, n, group * s.kg, dst_stride, temp, s.kg);
      if (!dst_stride) copy_pixels(x.dst, n, group * s.kg, s.kg, temp.data(), false);
      // col = W_g^T * diff_dst_g: A(p, m) = W(group * kg + m, p).
      gemm<T>(s.rows, s.pixels, s.kg,
              {weights.data + group * s.kg * weights.row_stride, weights.col_stride, weights.row_stride},
              {diff.data, diff.row_stride, diff.col_stride}, col, false, nullptr, w.gemm);
      col2im_accumulate<T>(g, {col.data, col.row_stride, col.col_stride}, image_of(x.src, n),
                           group * s.cg, (group + 1) * s.cg);
    }
  }
}

template <typename T>
void backward_weights(const ConvGeometry& g, const ConvOperands<T>& x, const Workspace<T>& w) {
  const Sizes s = sizes_of(g);
  const MatrixView<T> weights = weight_matrix(x.weight, w.weight, s.rows, false);
  const auto dst_stride = merged_stride(x.dst, 2);
  std::vector<T> temp;
  const MatrixView<T> col{w.col, s.pixels, 1};
  for (std::int64_t group = 0; group < g.groups; ++group) {
    const MatrixView<T> diff_weight{weights.data + group * s.kg * weights.row_stride,
                                    weights.row_stride, weights.col_stride};
    if (g.batch == 0) {
      for (std::int64_t k = 0; k < s.kg; ++k)
        for (std::int64_t p = 0; p < s.rows; ++p) diff_weight.at(k, p) = T(0);
    }
    for (std::int64_t n = 0; n < g.batch; ++n) {
      const ImageView<const T> image = {image_of(x.src, n).data, image_of(x.src, n).strides};
      im2col(g, image, group * s.cg, (group + 1) * s.cg, col);
      const MatrixView<T> diff = pixel_matrix(x.dst, n, group * s.kg, dst_stride, temp, s.kg);
      if (!dst_stride) copy_pixels(x.dst, n, group * s.kg, s.kg, temp.data(), false);
      // diff_W_g += diff_dst_g * col^T: B(p, j) = col(j, p).
      gemm<T>(s.kg, s.rows, s.pixels, {diff.data, diff.row_stride, diff.col_stride},
              {col.data, col.col_stride, col.row_stride}, diff_weight, n > 0, nullptr, w.gemm);
    }
  }
  if (weights.data == w.weight) copy_weight_out(w.weight, x.weight);
  write_bias_gradient(g, x);
}

template <typename T>
void run_direction(Direction direction, const ConvGeometry& g, const ConvOperands<T>& operands,
                   void* memory) {
  const Workspace<T> w = carve<T>(direction, g, memory);
  switch (direction) {
    case Direction::forward: forward(g, operands, w); break;
    case Direction::backward_data: backward_data(g, operands, w); break;
    case Direction::backward_weights: backward_weights(g, operands, w); break;
  }
}

class Im2colEngine final : public TypedConvEngine<Im2colEngine> {
 public:
  Engine id() const override { return Engine::im2col; }
  std::size_t workspace_bytes(Direction direction, const ConvGeometry& g,
                              DType dtype) const override {
    return dtype == DType::float32 ? workspace_size<float>(direction, g)
                                   : workspace_size<double>(direction, g);
  }
  std::string kernel_name(Direction, const ConvGeometry&, DType dtype) const override {
    return active_gemm_kernel_name(dtype == DType::float32);
  }
  template <typename T>
  void run_typed(Direction direction, const ConvGeometry& g, const ConvOperands<T>& operands,
                 void* workspace) const {
    run_direction(direction, g, operands, workspace);
  }
};

}  // namespace

const ConvEngine& im2col_engine() {
  static const Im2colEngine engine;
  return engine;
}

}  // namespace fastconv::detail
