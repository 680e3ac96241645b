// reference_windows.hpp — reference unfold / fold: the definitions, written as loops.
//
// cols is (N, C * kernel volume, L) with element (n, row, l) at
// data[n*strides[0] + row*strides[1] + l*strides[2]]; row = ((c*KD + kd)*KH + kh)*KW + kw and
// l = (od*OH + oh)*OW + ow, as in transforms/im2col.hpp.
#pragma once

#include <array>
#include <cstdint>

#include "core/view5.hpp"
#include "plan/conv_geometry.hpp"

namespace fastconv::detail {

template <typename T>
struct ColumnsView {
  T* data;
  std::array<std::int64_t, 3> strides;
  T& at(std::int64_t n, std::int64_t row, std::int64_t l) const {
    return data[n * strides[0] + row * strides[1] + l * strides[2]];
  }
};

// cols = unfold(image), every element written.
template <typename T>
void reference_unfold(const ConvGeometry& geometry, const View5<T>& image, const ColumnsView<T>& cols);

// image = fold(cols), every element written (sums accumulated in double).
template <typename T>
void reference_fold(const ConvGeometry& geometry, const ColumnsView<T>& cols, const View5<T>& image);

}  // namespace fastconv::detail
