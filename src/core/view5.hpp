// view5.hpp — a tensor view normalised to rank 5: (N, C, D, H, W) or (K, C/g, KD, KH, KW).
//
// 1-D and 2-D operands get size-1 axes inserted after the channel axis, matching the
// geometry's leading unused spatial axes. Views reach the engines only after the shared operand
// checks (plan/operands.hpp): data aligned to sizeof(T), every offset within 64 bits.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "fastconv/tensor.hpp"

namespace fastconv::detail {

template <typename T>
struct View5 {
  T* data = nullptr;
  std::array<std::int64_t, 5> shape{};
  std::array<std::int64_t, 5> strides{};

  T& at(std::int64_t i0, std::int64_t i1, std::int64_t i2, std::int64_t i3,
        std::int64_t i4) const {
    return data[i0 * strides[0] + i1 * strides[1] + i2 * strides[2] + i3 * strides[3] +
                i4 * strides[4]];
  }
  // Pointer to element (i0, i1, 0, 0, 0): the start of one image plane / one filter.
  T* plane(std::int64_t i0, std::int64_t i1) const {
    return data + i0 * strides[0] + i1 * strides[1];
  }
};

// Axes [first, 4] of a rank-5 view as one axis (row-major order, size-1 axes ignored): its
// stride, or nothing when they do not merge.
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

// Rank 3..5 view -> rank 5 (inserting size-1 axes at positions 2..). Data pointer reinterpreted
// as T (the caller has checked the dtype).
template <typename T>
View5<T> to_view5(const TensorView& view) {
  View5<T> result;
  result.data = static_cast<T*>(view.data);
  const int missing = 5 - view.rank;
  for (int axis = 0; axis < 5; ++axis) {
    if (axis < 2) {
      result.shape[axis] = view.shape[axis];
      result.strides[axis] = view.strides[axis];
    } else if (axis < 2 + missing) {
      result.shape[axis] = 1;
      result.strides[axis] = 0;
    } else {
      result.shape[axis] = view.shape[axis - missing];
      result.strides[axis] = view.strides[axis - missing];
    }
  }
  return result;
}

// A strided vector (bias): null data means absent.
template <typename T>
struct Vector1 {
  T* data = nullptr;
  std::int64_t stride = 1;
  T& operator[](std::int64_t i) const { return data[i * stride]; }
};

}  // namespace fastconv::detail
