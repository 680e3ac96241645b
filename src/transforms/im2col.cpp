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

}  // namespace

template <typename T>
void im2col(const ConvGeometry& g, ImageView<const T> image, std::int64_t c_begin,
            std::int64_t c_end, MatrixView<T> col) {
  const std::int64_t rows = (c_end - c_begin) * g.kernel_volume();
  const std::int64_t out_w = g.out[2];
  const std::int64_t sw = g.stride[2];
  const int threads = threads_for_work(double(rows) * double(g.out_pixels()));
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t row = 0; row < rows; ++row) {
    const ProfileScope scope(Phase::transforms);
    const RowOffset k = decode_row(g, row);
    const T* plane = image.data + (c_begin + k.channel) * image.strides[0];
    const ValidRange d_range = valid_range(g.out[0], g.in[0], g.stride[0], input_offset(g, 0, k.kd));
    const ValidRange h_range = valid_range(g.out[1], g.in[1], g.stride[1], input_offset(g, 1, k.kh));
    const ValidRange w_range = valid_range(out_w, g.in[2], sw, input_offset(g, 2, k.kw));
    T* dst_row = col.data + row * col.row_stride;
    const std::int64_t cs = col.col_stride;
    std::int64_t column = 0;
    for (std::int64_t od = 0; od < g.out[0]; ++od) {
      const bool d_inside = od >= d_range.begin && od < d_range.end;
      const std::int64_t id = od * g.stride[0] + input_offset(g, 0, k.kd);
      for (std::int64_t oh = 0; oh < g.out[1]; ++oh, column += out_w) {
        T* dst = dst_row + column * cs;
        if (!d_inside || oh < h_range.begin || oh >= h_range.end) {
          for (std::int64_t ow = 0; ow < out_w; ++ow) dst[ow * cs] = T(0);
          continue;
        }
        const std::int64_t ih = oh * g.stride[1] + input_offset(g, 1, k.kh);
        const T* src = plane + id * image.strides[1] + ih * image.strides[2] +
                       input_offset(g, 2, k.kw) * image.strides[3];
        const std::int64_t step = sw * image.strides[3];
        for (std::int64_t ow = 0; ow < w_range.begin; ++ow) dst[ow * cs] = T(0);
        if (cs == 1 && step == 1) {
          for (std::int64_t ow = w_range.begin; ow < w_range.end; ++ow) dst[ow] = src[ow];
        } else {
          for (std::int64_t ow = w_range.begin; ow < w_range.end; ++ow) dst[ow * cs] = src[ow * step];
        }
        for (std::int64_t ow = w_range.end; ow < out_w; ++ow) dst[ow * cs] = T(0);
      }
    }
  }
}

template <typename T>
void col2im_accumulate(const ConvGeometry& g, MatrixView<const T> col, ImageView<T> image,
                       std::int64_t c_begin, std::int64_t c_end) {
  const std::int64_t kernel_volume = g.kernel_volume();
  const std::int64_t out_w = g.out[2];
  const std::int64_t sw = g.stride[2];
  // Rows of one channel write overlapping pixels, so threads split channels.
  const int threads =
      threads_for_work(double(c_end - c_begin) * double(kernel_volume) * double(g.out_pixels()));
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t channel = c_begin; channel < c_end; ++channel) {
    const ProfileScope scope(Phase::transforms);
    T* plane = image.data + channel * image.strides[0];
    for (std::int64_t k_index = 0; k_index < kernel_volume; ++k_index) {
      const std::int64_t row = (channel - c_begin) * kernel_volume + k_index;
      const RowOffset k = decode_row(g, row);
      const ValidRange d_range = valid_range(g.out[0], g.in[0], g.stride[0], input_offset(g, 0, k.kd));
      const ValidRange h_range = valid_range(g.out[1], g.in[1], g.stride[1], input_offset(g, 1, k.kh));
      const ValidRange w_range = valid_range(out_w, g.in[2], sw, input_offset(g, 2, k.kw));
      const T* src_row = col.data + row * col.row_stride;
      const std::int64_t cs = col.col_stride;
      const std::int64_t step = sw * image.strides[3];
      for (std::int64_t od = d_range.begin; od < d_range.end; ++od) {
        const std::int64_t id = od * g.stride[0] + input_offset(g, 0, k.kd);
        for (std::int64_t oh = h_range.begin; oh < h_range.end; ++oh) {
          const std::int64_t ih = oh * g.stride[1] + input_offset(g, 1, k.kh);
          const T* src = src_row + (od * g.out[1] + oh) * out_w * cs;
          T* dst = plane + id * image.strides[1] + ih * image.strides[2] +
                   input_offset(g, 2, k.kw) * image.strides[3];
          if (cs == 1 && step == 1) {
            for (std::int64_t ow = w_range.begin; ow < w_range.end; ++ow) dst[ow] += src[ow];
          } else {
            for (std::int64_t ow = w_range.begin; ow < w_range.end; ++ow) dst[ow * step] += src[ow * cs];
          }
        }
      }
    }
  }
}

#define FASTCONV_INSTANTIATE_IM2COL(T)                                                          \
  template void im2col<T>(const ConvGeometry&, ImageView<const T>, std::int64_t, std::int64_t,   \
                          MatrixView<T>);                                                       \
  template void col2im_accumulate<T>(const ConvGeometry&, MatrixView<const T>, ImageView<T>,     \
                                     std::int64_t, std::int64_t);
FASTCONV_INSTANTIATE_IM2COL(float)
FASTCONV_INSTANTIATE_IM2COL(double)

}  // namespace fastconv::detail
