// im2col.hpp — unfold (im2col) and fold (col2im) of one image, for any spatial rank.
//
// The unfolded matrix of channels [c_begin, c_end) of one image has one row per
// (c, kd, kh, kw) — row index ((c - c_begin) * KD + kd) * KH * KW + kh * KW + kw — and one
// column per output position (od * OH + oh) * OW + ow, exactly torch.nn.functional.unfold's
// layout. Padding reads as zero (im2col: as `pad`). A call may cover only the output positions
// [pixel_begin, pixel_end): column j of `col` is then position pixel_begin + j, so an image is
// unfolded in chunks of bounded size. Both functions use up to `threads` threads.
#pragma once

#include <array>
#include <cstdint>

#include "gemm/gemm.hpp"
#include "plan/conv_geometry.hpp"

namespace fastconv::detail {

// One image: element (c, d, h, w) at data[c*strides[0] + d*strides[1] + h*strides[2] + w*strides[3]].
template <typename T>
struct ImageView {
  T* data;
  std::array<std::int64_t, 4> strides;
};

// Output positions [begin, end) of one image, flattened (od * OH + oh) * OW + ow.
struct PixelRange {
  std::int64_t begin, end;
};

// col = unfold(image[c_begin:c_end]) at positions `pixels`; writes every element of the rows.
template <typename T>
void im2col(const ConvGeometry& geometry, ImageView<const T> image, std::int64_t c_begin,
            std::int64_t c_end, PixelRange pixels, MatrixView<T> col, int threads, T pad = T(0));

// image[c_begin:c_end] += fold(col) for positions `pixels` (adds every window value at its
// source pixel).
template <typename T>
void col2im_accumulate(const ConvGeometry& geometry, MatrixView<const T> col, ImageView<T> image,
                       std::int64_t c_begin, std::int64_t c_end, PixelRange pixels, int threads);

}  // namespace fastconv::detail
