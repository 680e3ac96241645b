// window_ops.cpp — unfold, fold and the zero-copy windows view.
#include <string>
#include <vector>

#include "core/checked_math.hpp"
#include "core/view5.hpp"
#include "engines/reference/reference_windows.hpp"
#include "fastconv/error.hpp"
#include "fastconv/ops.hpp"
#include "fastconv/threading.hpp"
#include "plan/conv_geometry.hpp"
#include "plan/operands.hpp"
#include "transforms/im2col.hpp"

namespace fastconv {
namespace {

using detail::ConvGeometry;
using Shape = std::vector<std::int64_t>;

void check_rank(const char* operation, const char* name, const TensorView& view, int rank) {
  if (view.rank != rank) {
    throw Error(ErrorKind::invalid_argument,
                std::string(operation) + ": " + name + " has rank " + std::to_string(view.rank) +
                    " (shape " + view.shape_string() + "); expected rank " + std::to_string(rank));
  }
}

void check_window_engine(const char* operation, Engine engine) {
  std::string names;
  for (Engine taker : kWindowEngines) {
    if (engine == taker) return;
    names += std::string(names.empty() ? "" : ", ") + engine_name(taker);
  }
  throw Error(ErrorKind::engine_declined, std::string(operation) + ": engine " +
                                              engine_name(engine) + " does not apply to " +
                                              operation + "; it runs on " + names);
}

template <typename T>
detail::ColumnsView<T> columns_of(const TensorView& view) {
  return {static_cast<T*>(view.data), {view.strides[0], view.strides[1], view.strides[2]}};
}

template <typename T>
void unfold_typed(const ConvGeometry& g, const TensorView& src, const TensorView& dst, Engine engine) {
  const auto image = detail::to_view5<T>(src);
  const auto cols = columns_of<T>(dst);
  if (engine == Engine::reference) return detail::reference_unfold(g, image, cols);
  for (std::int64_t n = 0; n < g.batch; ++n) {
    detail::im2col<T>(g, {image.plane(n, 0), {image.strides[1], image.strides[2], image.strides[3], image.strides[4]}},
                      0, g.in_channels, {0, g.out_pixels()},
                      {cols.data + n * cols.strides[0], cols.strides[1], cols.strides[2]}, get_num_threads());
  }
}

template <typename T>
void fold_typed(const ConvGeometry& g, const TensorView& src, const TensorView& dst, Engine engine) {
  const auto image = detail::to_view5<T>(dst);
  const auto cols = columns_of<T>(src);
  if (engine == Engine::reference) return detail::reference_fold(g, cols, image);
  for (std::int64_t n = 0; n < g.batch; ++n) {
    for (std::int64_t c = 0; c < g.in_channels; ++c)
      for (std::int64_t d = 0; d < g.in[0]; ++d)
        for (std::int64_t h = 0; h < g.in[1]; ++h)
          for (std::int64_t w = 0; w < g.in[2]; ++w) image.at(n, c, d, h, w) = T(0);
    detail::col2im_accumulate<T>(
        g, {cols.data + n * cols.strides[0], cols.strides[1], cols.strides[2]},
        {image.plane(n, 0), {image.strides[1], image.strides[2], image.strides[3], image.strides[4]}},
        0, g.in_channels, {0, g.out_pixels()}, get_num_threads());
  }
}

}  // namespace

void unfold(const TensorView& src, const TensorView& dst, std::span<const std::int64_t> kernel_size,
            const ConvParams& params, Engine engine) {
  const char* operation = "unfold";
  check_window_engine(operation, engine);
  detail::check_dtype_supported(operation, "src", src.dtype);
  check_rank(operation, "dst", dst, 3);
  const ConvGeometry g = detail::window_geometry(operation, src.dims(), kernel_size, params);
  const Shape expected_src(src.dims().begin(), src.dims().end());
  const Shape expected[] = {expected_src, {g.batch, g.in_channels * g.kernel_volume(), g.out_pixels()}};
  const detail::Operand operands[] = {{"src", &src, false}, {"dst", &dst, true}};
  detail::check_operands(operation, src.dtype, operands, expected);
  if (src.dtype == DType::float32) unfold_typed<float>(g, src, dst, engine);
  else unfold_typed<double>(g, src, dst, engine);
}

void fold(const TensorView& src, const TensorView& dst, std::span<const std::int64_t> kernel_size,
          const ConvParams& params, Engine engine) {
  const char* operation = "fold";
  check_window_engine(operation, engine);
  detail::check_dtype_supported(operation, "src", src.dtype);
  check_rank(operation, "src", src, 3);
  for (int axis = 2; axis < dst.rank; ++axis) {
    if (dst.shape[axis] < 1) {
      throw Error(ErrorKind::invalid_argument,
                  std::string(operation) + ": output size dst.shape[" + std::to_string(axis) +
                      "] = " + std::to_string(dst.shape[axis]) + " (dst shape " +
                      dst.shape_string() + "); expected >= 1");
    }
  }
  const ConvGeometry g = detail::window_geometry(operation, dst.dims(), kernel_size, params);
  const Shape expected_dst(dst.dims().begin(), dst.dims().end());
  const Shape expected[] = {{g.batch, g.in_channels * g.kernel_volume(), g.out_pixels()}, expected_dst};
  const detail::Operand operands[] = {{"src", &src, false}, {"dst", &dst, true}};
  detail::check_operands(operation, src.dtype, operands, expected);
  if (src.dtype == DType::float32) fold_typed<float>(g, src, dst, engine);
  else fold_typed<double>(g, src, dst, engine);
}

TensorView windows(const TensorView& src, std::span<const std::int64_t> kernel_size,
                   std::span<const std::int64_t> stride, std::span<const std::int64_t> dilation) {
  const char* operation = "windows";
  detail::check_dtype_supported(operation, "src", src.dtype);
  const int dims = src.rank - 2;
  if (dims < 1 || dims > kMaxSpatialDims) {
    throw Error(ErrorKind::invalid_argument,
                std::string(operation) + ": src has rank " + std::to_string(src.rank) + " (shape " +
                    src.shape_string() + "); expected rank 3, 4 or 5 (N, C, spatial...)");
  }
  ConvParams params(dims);
  params.set_stride(stride).set_dilation(dilation);
  const ConvGeometry g = detail::window_geometry(operation, src.dims(), kernel_size, params);
  // The shared checks: null data, alignment, byte range within 64 bits and the address space.
  const Shape expected_src(src.dims().begin(), src.dims().end());
  const detail::Operand operands[] = {{"src", &src, false}};
  detail::check_operands(operation, src.dtype, operands, {&expected_src, 1});
  TensorView view;
  view.data = src.data;
  view.dtype = src.dtype;
  view.rank = 2 + 2 * dims;
  view.shape[0] = src.shape[0];
  view.shape[1] = src.shape[1];
  view.strides[0] = src.strides[0];
  view.strides[1] = src.strides[1];
  const int offset = kMaxSpatialDims - dims;
  for (int i = 0; i < dims; ++i) {
    const std::string axis = "[" + std::to_string(i) + "]";
    view.shape[2 + i] = g.out[offset + i];
    view.strides[2 + i] = detail::checked_mul(
        src.strides[2 + i], params.strides[i],
        std::string(operation) + ": window step src.strides[" + std::to_string(2 + i) +
            "] * stride" + axis);
    view.shape[2 + dims + i] = kernel_size[i];
    view.strides[2 + dims + i] = detail::checked_mul(
        src.strides[2 + i], params.dilations[i],
        std::string(operation) + ": tap step src.strides[" + std::to_string(2 + i) +
            "] * dilation" + axis);
  }
  return view;
}

}  // namespace fastconv
