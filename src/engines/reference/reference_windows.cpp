// reference_windows.cpp — see reference_windows.hpp.
#include "engines/reference/reference_windows.hpp"

namespace fastconv::detail {

template <typename T>
void reference_unfold(const ConvGeometry& g, const View5<T>& image, const ColumnsView<T>& cols) {
  for (std::int64_t n = 0; n < g.batch; ++n)
  for (std::int64_t c = 0; c < g.in_channels; ++c)
  for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd)
  for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
  for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw) {
    const std::int64_t row = ((c * g.kernel[0] + kd) * g.kernel[1] + kh) * g.kernel[2] + kw;
    for (std::int64_t od = 0; od < g.out[0]; ++od)
    for (std::int64_t oh = 0; oh < g.out[1]; ++oh)
    for (std::int64_t ow = 0; ow < g.out[2]; ++ow) {
      const std::int64_t id = od * g.stride[0] - g.pad_begin[0] + kd * g.dilation[0];
      const std::int64_t ih = oh * g.stride[1] - g.pad_begin[1] + kh * g.dilation[1];
      const std::int64_t iw = ow * g.stride[2] - g.pad_begin[2] + kw * g.dilation[2];
      const bool inside = id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2];
      const std::int64_t l = (od * g.out[1] + oh) * g.out[2] + ow;
      cols.at(n, row, l) = inside ? image.at(n, c, id, ih, iw) : T(0);
    }
  }
}

template <typename T>
void reference_fold(const ConvGeometry& g, const ColumnsView<T>& cols, const View5<T>& image) {
  for (std::int64_t n = 0; n < g.batch; ++n)
  for (std::int64_t c = 0; c < g.in_channels; ++c)
  for (std::int64_t id = 0; id < g.in[0]; ++id)
  for (std::int64_t ih = 0; ih < g.in[1]; ++ih)
  for (std::int64_t iw = 0; iw < g.in[2]; ++iw) {
    double sum = 0.0;
    for (std::int64_t kd = 0; kd < g.kernel[0]; ++kd)
    for (std::int64_t kh = 0; kh < g.kernel[1]; ++kh)
    for (std::int64_t kw = 0; kw < g.kernel[2]; ++kw) {
      // Output position o with o * stride - pad + k * dilation == i, if any.
      const std::int64_t sd = id + g.pad_begin[0] - kd * g.dilation[0];
      const std::int64_t sh = ih + g.pad_begin[1] - kh * g.dilation[1];
      const std::int64_t sw = iw + g.pad_begin[2] - kw * g.dilation[2];
      if (sd < 0 || sh < 0 || sw < 0) continue;
      if (sd % g.stride[0] || sh % g.stride[1] || sw % g.stride[2]) continue;
      const std::int64_t od = sd / g.stride[0], oh = sh / g.stride[1], ow = sw / g.stride[2];
      if (od >= g.out[0] || oh >= g.out[1] || ow >= g.out[2]) continue;
      const std::int64_t row = ((c * g.kernel[0] + kd) * g.kernel[1] + kh) * g.kernel[2] + kw;
      sum += double(cols.at(n, row, (od * g.out[1] + oh) * g.out[2] + ow));
    }
    image.at(n, c, id, ih, iw) = T(sum);
  }
}

template void reference_unfold<float>(const ConvGeometry&, const View5<float>&, const ColumnsView<float>&);
template void reference_unfold<double>(const ConvGeometry&, const View5<double>&, const ColumnsView<double>&);
template void reference_fold<float>(const ConvGeometry&, const ColumnsView<float>&, const View5<float>&);
template void reference_fold<double>(const ConvGeometry&, const ColumnsView<double>&, const View5<double>&);

}  // namespace fastconv::detail
