// fastconv/tensor.hpp — a non-owning, strided view of a dense tensor.
//
// A TensorView is a data pointer, a dtype, a shape and strides counted in elements (not bytes).
// Any strides are allowed, so NCHW, channels-last (NHWC / NDHWC) and cropped or transposed
// views are passed without a copy. Convolution operands have rank 3, 4 or 5:
// (N, C, W), (N, C, H, W) or (N, C, D, H, W); the windows() view has a larger rank.
// The library never writes through a view passed as an input.
//
// What every operation (the ConvPlan kinds, pack_weights, unfold, fold, windows) requires of a
// view with at least one element, checked before anything is read or written (fastconv::Error
// otherwise, naming the operand):
//   - data is non-null and aligned to dtype_size(dtype): 4 bytes for float32, 8 for float64
//     (invalid_argument, with the address and the alignment needed). Copy unaligned data into
//     an aligned buffer first; the Python front does this for numpy arrays.
//   - the byte offsets it reaches, sum of (shape[i] - 1) * strides[i] * dtype_size, fit in 64
//     bits (overflow) and stay inside the address space around data (invalid_argument).
//   - an output addresses each element at most once. The check is exact: unsorted strides that
//     never reach one address twice (e.g. a 3x3 plane with strides (2, 3)) are accepted; a zero
//     stride on an axis longer than 1, or two indices with one offset, are refused, the message
//     naming two such indices. Strides of size-1 axes are never used. A layout whose strides are
//     not sorted and that needs more than 65,536 search steps to decide is refused as "may
//     overlap" (no rank-5 layout found in testing comes near that bound).
//   - an output shares no byte range with any other operand (a range test: interleaved but
//     disjoint operands count as overlapping).
// A view without elements is never dereferenced: any pointer (even null or unaligned) and any
// strides are accepted.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

namespace fastconv {

enum class DType { float32, float64 };

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::float32; }
template <>
constexpr DType dtype_of<double>() { return DType::float64; }

inline constexpr int kMaxRank = 8;

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::float32;
  int rank = 0;  // 0 means "no tensor" (e.g. an absent bias)
  std::array<std::int64_t, kMaxRank> shape{};
  std::array<std::int64_t, kMaxRank> strides{};  // in elements; may be zero or negative

  bool empty_view() const { return rank == 0; }
  // Product of the shape; 0 for an empty view (rank 0). Throws fastconv::Error (overflow) when
  // the product does not fit 64 bits.
  std::int64_t numel() const;
  std::span<const std::int64_t> dims() const { return {shape.data(), std::size_t(rank)}; }
  std::string shape_string() const;  // "[2, 3, 5, 5]"
  bool is_contiguous() const;        // row-major, no gaps

  // The factories throw fastconv::Error: invalid_argument for a rank above kMaxRank, overflow
  // when the element count of `shape` does not fit 64 bits.
  // Row-major contiguous view of `shape`.
  static TensorView contiguous(void* data, DType dtype, std::span<const std::int64_t> shape);
  // Channels-last memory (N, spatial..., C) presented with the logical shape (N, C, spatial...).
  static TensorView channels_last(void* data, DType dtype, std::span<const std::int64_t> shape);
  // Explicit strides (in elements).
  static TensorView strided(void* data, DType dtype, std::span<const std::int64_t> shape,
                            std::span<const std::int64_t> strides);
};

// Typed conveniences; const pointers are accepted for inputs (never written).
template <typename T>
TensorView make_view(const T* data, std::initializer_list<std::int64_t> shape) {
  return TensorView::contiguous(const_cast<T*>(data), dtype_of<T>(), {shape.begin(), shape.size()});
}
template <typename T>
TensorView make_channels_last_view(const T* data, std::initializer_list<std::int64_t> shape) {
  return TensorView::channels_last(const_cast<T*>(data), dtype_of<T>(),
                                   {shape.begin(), shape.size()});
}

}  // namespace fastconv
