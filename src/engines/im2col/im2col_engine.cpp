// im2col_engine.cpp — see im2col_engine.hpp.
#include "engines/im2col/im2col_engine.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <type_traits>

#include "core/aligned_buffer.hpp"
#include "engines/bias.hpp"
#include "engines/im2col/im2col_inner_op.hpp"
#include "engines/inner_op_kernels.hpp"
#include "gemm/gemm.hpp"
#include "transforms/im2col.hpp"

namespace fastconv::detail {
namespace {

// Bytes of one unfolded chunk (or of the dst chunk copy) above which chunks get narrower; the
// inner operations' path gets 1 MiB per thread for all of a chunk's buffers.
// FASTCONV_IM2COL_CHUNK_BYTES overrides both (tests use it to cut small images into many
// chunks), read once per plan.
constexpr std::int64_t kChunkBudgetBytes = 8 << 20;
constexpr std::int64_t kOpChunkBudgetBytesPerThread = 1 << 20;

std::int64_t chunk_budget_bytes(const ConvProblem& problem) {
  if (const char* value = std::getenv("FASTCONV_IM2COL_CHUNK_BYTES"); value != nullptr && *value != '\0') {
    const long long parsed = std::atoll(value);
    if (parsed > 0) return parsed;
  }
  return problem.convolution() ? kChunkBudgetBytes : kOpChunkBudgetBytesPerThread * problem.max_threads;
}
// Output positions per chunk at least (a few GEMM column panels) unless columns are huge.
constexpr std::int64_t kMinChunkPixels = 16;

// The sizes of one problem's GEMMs and the workspace layout:
// [unfolded chunk | GEMM packing | weight copy | bias copy | dst chunk copy].
template <typename T>
struct Setup {
  std::int64_t cg = 0, kg = 0, rows = 0, pixels = 0;  // rows = C/g * kernel volume, pixels per image
  std::int64_t chunk = 0;                             // output positions per chunk
  std::size_t col_bytes = 0, gemm_bytes = 0, weight_bytes = 0, bias_bytes = 0, temp_bytes = 0;

  Setup(Direction direction, const ConvGeometry& g, std::int64_t budget_bytes, int threads)
      : cg(g.in_channels_per_group()), kg(g.out_channels_per_group()),
        rows(g.in_channels_per_group() * g.kernel_volume()), pixels(g.out_pixels()) {
    const std::int64_t widest = std::max<std::int64_t>({rows, kg, 1});
    const std::int64_t fitting = budget_bytes / (widest * std::int64_t(sizeof(T)));
    // Columns so tall that kMinChunkPixels of them exceed the budget (C/g x kernel volume above
    // 2^17 floats) get chunks as narrow as one column: the workspace stays within a few copies
    // of the weights, whatever the image.
    const std::int64_t wanted = fitting >= kMinChunkPixels ? fitting / kMinChunkPixels * kMinChunkPixels
                                                           : std::max<std::int64_t>(fitting, 1);
    chunk = std::min<std::int64_t>(wanted, std::max<std::int64_t>(pixels, 1));
    switch (direction) {
      case Direction::forward: gemm_bytes = gemm_workspace_bytes<T>(kg, chunk, rows, threads); break;
      case Direction::backward_data: gemm_bytes = gemm_workspace_bytes<T>(rows, chunk, kg, threads); break;
      case Direction::backward_weights: gemm_bytes = gemm_workspace_bytes<T>(kg, rows, chunk, threads); break;
    }
    col_bytes = align64(std::size_t(rows * chunk) * sizeof(T));
    gemm_bytes = align64(gemm_bytes);
    weight_bytes = align64(std::size_t(g.out_channels * rows) * sizeof(T));
    bias_bytes = align64(std::size_t(std::max(g.in_channels, g.out_channels)) * sizeof(T));
    temp_bytes = align64(std::size_t(kg * chunk) * sizeof(T));
  }
  std::size_t workspace_bytes() const { return col_bytes + gemm_bytes + weight_bytes + bias_bytes + temp_bytes; }
};

template <typename T>
struct Workspace {
  T* col;
  void* gemm;
  T* weight;
  T* bias;
  T* temp;
};

template <typename T>
Workspace<T> carve(const Setup<T>& s, void* memory) {
  auto* bytes = static_cast<std::byte*>(memory);
  Workspace<T> w;
  w.col = reinterpret_cast<T*>(bytes);
  w.gemm = bytes + s.col_bytes;
  w.weight = reinterpret_cast<T*>(bytes + s.col_bytes + s.gemm_bytes);
  w.bias = reinterpret_cast<T*>(bytes + s.col_bytes + s.gemm_bytes + s.weight_bytes);
  w.temp = reinterpret_cast<T*>(bytes + s.col_bytes + s.gemm_bytes + s.weight_bytes + s.bias_bytes);
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

// Channels [c_begin, c_begin + rows) of image n of a rank-5 view at output positions `pixels`,
// as a rows x chunk matrix: the view itself when its spatial axes merge (spatial_stride),
// otherwise `temp` (the caller copies with copy_pixels).
template <typename T>
MatrixView<T> pixel_matrix(const View5<T>& view, std::int64_t n, std::int64_t c_begin,
                           std::optional<std::int64_t> spatial_stride, PixelRange pixels, T* temp) {
  if (spatial_stride) {
    return {view.plane(n, c_begin) + pixels.begin * *spatial_stride, view.strides[1], *spatial_stride};
  }
  return {temp, pixels.end - pixels.begin, 1};
}

// Copies between a strided image's channels at output positions `pixels` and a contiguous
// rows x (pixels.end - pixels.begin) matrix.
template <typename T>
void copy_pixels(const View5<T>& view, std::int64_t n, std::int64_t c_begin, std::int64_t rows,
                 PixelRange pixels, T* matrix, bool to_view) {
  const std::int64_t width = view.shape[4], height = view.shape[3];
  const std::int64_t count = pixels.end - pixels.begin;
  for (std::int64_t c = 0; c < rows; ++c)
    for (std::int64_t p = pixels.begin; p < pixels.end; ++p) {
      T& element = view.at(n, c_begin + c, p / (width * height), p / width % height, p % width);
      T& copy = matrix[c * count + p - pixels.begin];
      if (to_view) element = copy; else copy = element;
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

// Calls chunk(n, group, pixels) for every chunk of every image and group, in that order.
template <typename T, typename Chunk>
void for_each_chunk(const ConvGeometry& g, const Setup<T>& s, Chunk&& chunk) {
  for (std::int64_t n = 0; n < g.batch; ++n)
    for (std::int64_t group = 0; group < g.groups; ++group)
      for (std::int64_t p = 0; p < s.pixels; p += s.chunk)
        chunk(n, group, PixelRange{p, std::min(s.pixels, p + s.chunk)});
}

template <typename T>
void forward(const ConvGeometry& g, const Setup<T>& s, const ConvOperands<T>& x, const Workspace<T>& w,
             int threads) {
  const MatrixView<T> weights = weight_matrix(x.weight, w.weight, s.rows, true);
  const T* bias = contiguous_bias(x.bias, g.out_channels, w.bias);
  const auto dst_stride = merged_stride(x.dst, 2);
  for_each_chunk(g, s, [&](std::int64_t n, std::int64_t group, PixelRange pixels) {
    const std::int64_t count = pixels.end - pixels.begin;
    const MatrixView<T> col{w.col, count, 1};
    const ImageView<const T> image = {image_of(x.src, n).data, image_of(x.src, n).strides};
    im2col(g, image, group * s.cg, (group + 1) * s.cg, pixels, col, threads);
    const MatrixView<T> out = pixel_matrix(x.dst, n, group * s.kg, dst_stride, pixels, w.temp);
    gemm<T>(s.kg, count, s.rows,
            {weights.data + group * s.kg * weights.row_stride, weights.row_stride, weights.col_stride},
            {col.data, col.row_stride, col.col_stride}, out, false, bias ? bias + group * s.kg : nullptr,
            w.gemm, threads);
    if (!dst_stride) copy_pixels(x.dst, n, group * s.kg, s.kg, pixels, w.temp, true);
  });
}

template <typename T>
void backward_data(const ConvGeometry& g, const Setup<T>& s, const ConvOperands<T>& x,
                   const Workspace<T>& w, int threads) {
  const MatrixView<T> weights = weight_matrix(x.weight, w.weight, s.rows, true);
  const auto dst_stride = merged_stride(x.dst, 2);
  // diff_src starts as the bias (transposed convolution) or zero, then folds accumulate.
  fill_with_bias(g, x.src, x.bias);
  for_each_chunk(g, s, [&](std::int64_t n, std::int64_t group, PixelRange pixels) {
    const std::int64_t count = pixels.end - pixels.begin;
    const MatrixView<T> col{w.col, count, 1};
    const MatrixView<T> diff = pixel_matrix(x.dst, n, group * s.kg, dst_stride, pixels, w.temp);
    if (!dst_stride) copy_pixels(x.dst, n, group * s.kg, s.kg, pixels, w.temp, false);
    // col = W_g^T * diff_dst_g: A(p, m) = W(group * kg + m, p).
    gemm<T>(s.rows, count, s.kg,
            {weights.data + group * s.kg * weights.row_stride, weights.col_stride, weights.row_stride},
            {diff.data, diff.row_stride, diff.col_stride}, col, false, nullptr, w.gemm, threads);
    col2im_accumulate<T>(g, {col.data, col.row_stride, col.col_stride}, image_of(x.src, n),
                         group * s.cg, (group + 1) * s.cg, pixels, threads);
  });
}

template <typename T>
void backward_weights(const ConvGeometry& g, const Setup<T>& s, const ConvOperands<T>& x,
                      const Workspace<T>& w, int threads) {
  const MatrixView<T> weights = weight_matrix(x.weight, w.weight, s.rows, false);
  const auto dst_stride = merged_stride(x.dst, 2);
  auto diff_weight = [&](std::int64_t group) {
    return MatrixView<T>{weights.data + group * s.kg * weights.row_stride, weights.row_stride,
                         weights.col_stride};
  };
  if (g.batch == 0 || s.pixels == 0) {  // the empty sum
    for (std::int64_t group = 0; group < g.groups; ++group)
      for (std::int64_t k = 0; k < s.kg; ++k)
        for (std::int64_t p = 0; p < s.rows; ++p) diff_weight(group).at(k, p) = T(0);
  }
  for_each_chunk(g, s, [&](std::int64_t n, std::int64_t group, PixelRange pixels) {
    const std::int64_t count = pixels.end - pixels.begin;
    const MatrixView<T> col{w.col, count, 1};
    const ImageView<const T> image = {image_of(x.src, n).data, image_of(x.src, n).strides};
    im2col(g, image, group * s.cg, (group + 1) * s.cg, pixels, col, threads);
    const MatrixView<T> diff = pixel_matrix(x.dst, n, group * s.kg, dst_stride, pixels, w.temp);
    if (!dst_stride) copy_pixels(x.dst, n, group * s.kg, s.kg, pixels, w.temp, false);
    // diff_W_g (+)= diff_dst_g * col^T: B(p, j) = col(j, p); the first chunk overwrites.
    const bool first = n == 0 && pixels.begin == 0;
    gemm<T>(s.kg, s.rows, count, {diff.data, diff.row_stride, diff.col_stride},
            {col.data, col.col_stride, col.row_stride}, diff_weight(group), !first, nullptr, w.gemm,
            threads);
  });
  if (weights.data == w.weight) copy_weight_out(w.weight, x.weight);
  write_bias_gradient(g, x);
}

std::size_t workspace_size(const ConvProblem& problem, std::int64_t budget) {
  if (!problem.convolution()) return im2col_op_workspace_bytes(problem.direction, problem.geometry, budget);
  return problem.dtype == DType::float32 ? Setup<float>(problem.direction, problem.geometry, budget, problem.max_threads).workspace_bytes()
                                         : Setup<double>(problem.direction, problem.geometry, budget, problem.max_threads).workspace_bytes();
}

class PreparedIm2col final : public TypedPreparedConv<PreparedIm2col> {
 public:
  static constexpr Engine kEngine = Engine::im2col;
  explicit PreparedIm2col(const ConvProblem& problem)
      : TypedPreparedConv(problem), budget_(chunk_budget_bytes(problem)),
        workspace_bytes_(workspace_size(problem, budget_)) {}
  std::size_t workspace_bytes() const override { return workspace_bytes_; }
  std::string kernel_name() const override {
    if (!problem().convolution()) return std::string(problem().op->table().name) + " pixel-lane kernels (unfolded chunks)";
    return active_gemm_kernel_name(problem().dtype == DType::float32);
  }
  template <typename T>
  void run_typed(const ConvOperands<T>& operands, void* workspace, int threads) const {
    if constexpr (std::is_same_v<T, float>) {
      if (!problem().convolution())
        return im2col_op_run(direction(), geometry(), budget_, *problem().op, operands, workspace, threads);
    }
    const Setup<T> s(direction(), geometry(), budget_, problem().max_threads);
    const Workspace<T> w = carve(s, workspace);
    switch (direction()) {
      case Direction::forward: forward(geometry(), s, operands, w, threads); break;
      case Direction::backward_data: backward_data(geometry(), s, operands, w, threads); break;
      case Direction::backward_weights: backward_weights(geometry(), s, operands, w, threads); break;
    }
  }

 private:
  std::int64_t budget_;
  std::size_t workspace_bytes_;
};

class Im2colEngine final : public ConvEngine {
 public:
  Engine id() const override { return Engine::im2col; }
  Preparation prepare(const ConvProblem& problem) const override {
    if (!problem.convolution()) {
      if (problem.dtype != DType::float32)
        return Preparation::decline("inner operation " + problem.op->description() + " in float64 (reference only)");
      if (std::string missing = op_kernels_missing(*problem.op); !missing.empty())
        return Preparation::decline(std::move(missing));
    }
    return Preparation::take(std::make_unique<PreparedIm2col>(problem));
  }
};

}  // namespace

const ConvEngine& im2col_engine() {
  static const Im2colEngine engine;
  return engine;
}

}  // namespace fastconv::detail
