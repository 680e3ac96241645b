// tensor.cpp — TensorView helpers.
#include "fastconv/tensor.hpp"

#include "core/format.hpp"
#include "fastconv/error.hpp"

namespace fastconv {

std::size_t dtype_size(DType dtype) { return dtype == DType::float32 ? 4 : 8; }

const char* dtype_name(DType dtype) { return dtype == DType::float32 ? "float32" : "float64"; }

std::int64_t TensorView::numel() const {
  if (rank == 0) return 0;
  for (int i = 0; i < rank; ++i)
    if (shape[i] == 0) return 0;
  std::int64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    if (__builtin_mul_overflow(count, shape[i], &count)) {
      throw Error(ErrorKind::overflow, "TensorView::numel: the element count of shape " +
                                           shape_string() + " overflows 64-bit integers");
    }
  }
  return count;
}

std::string TensorView::shape_string() const { return detail::list_string(dims()); }

bool TensorView::is_contiguous() const {
  std::int64_t expected = 1;
  bool beyond_64_bits = false;  // `expected` no longer fits: no stride can equal it
  for (int i = rank - 1; i >= 0; --i) {
    if (shape[i] != 1 && (beyond_64_bits || strides[i] != expected)) return false;
    beyond_64_bits = beyond_64_bits || __builtin_mul_overflow(expected, shape[i], &expected);
  }
  return true;
}

// The stride after an axis of `extent` (empty axes count as 1), or fastconv::Error (overflow).
static std::int64_t next_stride(std::int64_t stride, std::int64_t extent, const char* factory,
                                std::span<const std::int64_t> shape) {
  std::int64_t result;
  if (__builtin_mul_overflow(stride, extent > 0 ? extent : 1, &result)) {
    throw Error(ErrorKind::overflow, std::string(factory) + ": the element count of shape " +
                                         detail::list_string(shape) + " overflows 64-bit integers");
  }
  return result;
}

static void check_rank(std::span<const std::int64_t> shape, const char* what) {
  if (shape.size() > std::size_t(kMaxRank)) {
    throw Error(ErrorKind::invalid_argument, std::string(what) + ": rank " +
                                                 std::to_string(shape.size()) + " exceeds " +
                                                 std::to_string(kMaxRank));
  }
}

TensorView TensorView::contiguous(void* data, DType dtype, std::span<const std::int64_t> shape) {
  check_rank(shape, "TensorView::contiguous");
  TensorView view;
  view.data = data;
  view.dtype = dtype;
  view.rank = int(shape.size());
  std::int64_t stride = 1;
  for (int i = view.rank - 1; i >= 0; --i) {
    view.shape[i] = shape[i];
    view.strides[i] = stride;
    stride = next_stride(stride, shape[i], "TensorView::contiguous", shape);
  }
  return view;
}

TensorView TensorView::channels_last(void* data, DType dtype, std::span<const std::int64_t> shape) {
  check_rank(shape, "TensorView::channels_last");
  if (shape.size() < 3) {
    throw Error(ErrorKind::invalid_argument,
                "TensorView::channels_last: rank " + std::to_string(shape.size()) +
                    " < 3; expected (N, C, spatial...)");
  }
  TensorView view;
  view.data = data;
  view.dtype = dtype;
  view.rank = int(shape.size());
  for (int i = 0; i < view.rank; ++i) view.shape[i] = shape[i];
  // Memory order: N, spatial..., C.
  const char* factory = "TensorView::channels_last";
  std::int64_t stride = 1;
  view.strides[1] = stride;
  stride = next_stride(stride, shape[1], factory, shape);
  for (int i = view.rank - 1; i >= 2; --i) {
    view.strides[i] = stride;
    stride = next_stride(stride, shape[i], factory, shape);
  }
  view.strides[0] = stride;
  next_stride(stride, shape[0], factory, shape);  // the element count fits too
  return view;
}

TensorView TensorView::strided(void* data, DType dtype, std::span<const std::int64_t> shape,
                               std::span<const std::int64_t> strides) {
  check_rank(shape, "TensorView::strided");
  if (strides.size() != shape.size()) {
    throw Error(ErrorKind::invalid_argument,
                "TensorView::strided: strides has " + std::to_string(strides.size()) +
                    " entries but shape has " + std::to_string(shape.size()));
  }
  TensorView view;
  view.data = data;
  view.dtype = dtype;
  view.rank = int(shape.size());
  for (int i = 0; i < view.rank; ++i) {
    view.shape[i] = shape[i];
    view.strides[i] = strides[i];
  }
  return view;
}

}  // namespace fastconv
