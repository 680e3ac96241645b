// im2col.cpp — unfold / fold of one image. Per kernel offset, the range of output positions
// that read inside the image is computed once, so the inner loops have no bounds checks.
#include "transforms/im2col.hpp"

#include <algorithm>

#include "core/parallel.hpp"
#include "core/profile.hpp"

namespace fastconv::detail {
namespace {

// Output positions o in [begin, end) read input index o * stride + offset inside [0, size).
struct ValidRange {
  std::int64_t begin, end;
};

ValidRange valid_range(std::int64_t out_size, std::int64_t in_size, std::int64_t stride,
                       std::int64_t offset) {
  const std::int64_t begin = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const std::int64_t last = in_size - 1 - offset;  // o * stride <= last
  const std::int64_t end = last < 0 ? 0 : std::min(out_size, last / stride + 1);
  return {std::min(begin, end), end};
}

// The kernel offset of one unfolded row.
struct RowOffset {
  std::int64_t channel, kd, kh, kw;
};

RowOffset decode_row(const ConvGeometry& g, std::int64_t row) {
  const std::int64_t kw = row % g.kernel[2];
  const std::int64_t kh = row / g.kernel[2] % g.kernel[1];
  const std::int64_t kd = row / (g.kernel[2] * g.kernel[1]) % g.kernel[0];
  return {row / g.kernel_volume(), kd, kh, kw};
}

std::int64_t input_offset(const ConvGeometry& g, int axis, std::int64_t k) {
  return k * g.dilation[axis] - g.pad_begin[axis];
}

// Calls part(od, oh, ow_begin, ow_end, column) for the part [ow_begin, ow_end) of each output
// line (od, oh) inside `pixels`; column is that part's first column in the chunk.
template <typename Part>
void for_each_line_part(const ConvGeometry& g, PixelRange pixels, Part&& part) {
  const std::int64_t width = g.out[2];
  if (width == 0) return;
  for (std::int64_t line = pixels.begin / width; line * width < pixels.end; ++line) {
    const std::int64_t first = line * width;
    const std::int64_t ow_begin = std::max(pixels.begin, first) - first;
    const std::int64_t ow_end = std::min(pixels.end, first + width) - first;
    part(line / g.out[1], line % g.out[1], ow_begin, ow_end, first + ow_begin - pixels.begin);
  }
}

}  // namespace

template <typename T>
void im2col(const ConvGeometry& g, ImageView<const T> image, std::int64_t c_begin,
            std::int64_t c_end, PixelRange pixels, MatrixView<T> col, int threads, T pad) {
  const std::int64_t rows = (c_end - c_begin) * g.kernel_volume();
  const std::int64_t sw = g.stride[2];
  const int team = threads_for_work(double(rows) * double(pixels.end - pixels.begin), threads);
  parallel_team(team, [&] {
#pragma omp for schedule(static)
    for (std::int64_t row = 0; row < rows; ++row) {
      const ProfileScope scope(Phase::transforms);
      const RowOffset k = decode_row(g, row);
      const T* plane = image.data + (c_begin + k.channel) * image.strides[0];
      const ValidRange d_range = valid_range(g.out[0], g.in[0], g.stride[0], input_offset(g, 0, k.kd));
      const ValidRange h_range = valid_range(g.out[1], g.in[1], g.stride[1], input_offset(g, 1, k.kh));
      const ValidRange w_range = valid_range(g.out[2], g.in[2], sw, input_offset(g, 2, k.kw));
      T* dst_row = col.data + row * col.row_stride;
      const std::int64_t cs = col.col_stride;
      const std::int64_t step = sw * image.strides[3];
      for_each_line_part(g, pixels, [&](std::int64_t od, std::int64_t oh, std::int64_t ow_begin,
                                        std::int64_t ow_end, std::int64_t column) {
        // Output position ow of this line is column ow + shift of the chunk.
        const std::int64_t shift = column - ow_begin;
        const bool line_inside = od >= d_range.begin && od < d_range.end && oh >= h_range.begin &&
                                 oh < h_range.end;
        const std::int64_t copy_begin = line_inside ? std::clamp(w_range.begin, ow_begin, ow_end) : ow_end;
        const std::int64_t copy_end = line_inside ? std::clamp(w_range.end, copy_begin, ow_end) : ow_end;
        for (std::int64_t ow = ow_begin; ow < copy_begin; ++ow) dst_row[(ow + shift) * cs] = pad;
        if (copy_begin < copy_end) {
          const std::int64_t id = od * g.stride[0] + input_offset(g, 0, k.kd);
          const std::int64_t ih = oh * g.stride[1] + input_offset(g, 1, k.kh);
          const T* src = plane + id * image.strides[1] + ih * image.strides[2] +
                         (copy_begin * sw + input_offset(g, 2, k.kw)) * image.strides[3];
          T* dst = dst_row + (copy_begin + shift) * cs;
          const std::int64_t count = copy_end - copy_begin;
          if (cs == 1 && step == 1) {
            for (std::int64_t i = 0; i < count; ++i) dst[i] = src[i];
          } else {
            for (std::int64_t i = 0; i < count; ++i) dst[i * cs] = src[i * step];
          }
        }
        for (std::int64_t ow = copy_end; ow < ow_end; ++ow) dst_row[(ow + shift) * cs] = pad;
      });
    }
  });
}

template <typename T>
void col2im_accumulate(const ConvGeometry& g, MatrixView<const T> col, ImageView<T> image,
                       std::int64_t c_begin, std::int64_t c_end, PixelRange pixels, int threads) {
  const std::int64_t kernel_volume = g.kernel_volume();
  const std::int64_t sw = g.stride[2];
  // Rows of one channel write overlapping pixels, so threads split channels.
  const int team = threads_for_work(
      double(c_end - c_begin) * double(kernel_volume) * double(pixels.end - pixels.begin), threads);
  parallel_team(team, [&] {
#pragma omp for schedule(static)
    for (std::int64_t channel = c_begin; channel < c_end; ++channel) {
      const ProfileScope scope(Phase::transforms);
      T* plane = image.data + channel * image.strides[0];
      for (std::int64_t k_index = 0; k_index < kernel_volume; ++k_index) {
        const std::int64_t row = (channel - c_begin) * kernel_volume + k_index;
        const RowOffset k = decode_row(g, row);
        const ValidRange d_range = valid_range(g.out[0], g.in[0], g.stride[0], input_offset(g, 0, k.kd));
        const ValidRange h_range = valid_range(g.out[1], g.in[1], g.stride[1], input_offset(g, 1, k.kh));
        const ValidRange w_range = valid_range(g.out[2], g.in[2], sw, input_offset(g, 2, k.kw));
        const T* src_row = col.data + row * col.row_stride;
        const std::int64_t cs = col.col_stride;
        const std::int64_t step = sw * image.strides[3];
        for_each_line_part(g, pixels, [&](std::int64_t od, std::int64_t oh, std::int64_t ow_begin,
                                          std::int64_t ow_end, std::int64_t column) {
          if (od < d_range.begin || od >= d_range.end || oh < h_range.begin || oh >= h_range.end) return;
          const std::int64_t add_begin = std::clamp(w_range.begin, ow_begin, ow_end);
          const std::int64_t add_end = std::clamp(w_range.end, add_begin, ow_end);
          const std::int64_t id = od * g.stride[0] + input_offset(g, 0, k.kd);
          const std::int64_t ih = oh * g.stride[1] + input_offset(g, 1, k.kh);
          if (add_begin == add_end) return;
          const T* src = src_row + (column + add_begin - ow_begin) * cs;
          T* dst = plane + id * image.strides[1] + ih * image.strides[2] +
                   (add_begin * sw + input_offset(g, 2, k.kw)) * image.strides[3];
          const std::int64_t count = add_end - add_begin;
          if (cs == 1 && step == 1) {
            for (std::int64_t i = 0; i < count; ++i) dst[i] += src[i];
          } else {
            for (std::int64_t i = 0; i < count; ++i) dst[i * step] += src[i * cs];
          }
        });
      }
    }
  });
}

#define FASTCONV_INSTANTIATE_IM2COL(T)                                                          \
  template void im2col<T>(const ConvGeometry&, ImageView<const T>, std::int64_t, std::int64_t,   \
                          PixelRange, MatrixView<T>, int, T);                                   \
  template void col2im_accumulate<T>(const ConvGeometry&, MatrixView<const T>, ImageView<T>,     \
                                     std::int64_t, std::int64_t, PixelRange, int);
FASTCONV_INSTANTIATE_IM2COL(float)
FASTCONV_INSTANTIATE_IM2COL(double)

}  // namespace fastconv::detail
