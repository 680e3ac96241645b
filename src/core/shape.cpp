// shape.cpp — public output-shape functions, all derived from the validated geometry.
#include "fastconv/shape.hpp"

#include <array>

#include "plan/conv_geometry.hpp"

namespace fastconv {
namespace {

ConvParams one_axis(std::int64_t stride, std::int64_t dilation, std::int64_t pad_begin,
                    std::int64_t pad_end) {
  ConvParams params(1);
  params.strides[0] = stride;
  params.dilations[0] = dilation;
  params.pad_begin[0] = pad_begin;
  params.pad_end[0] = pad_end;
  return params;
}

}  // namespace

std::int64_t conv_output_size(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                              std::int64_t dilation, std::int64_t pad_begin, std::int64_t pad_end) {
  const std::array<std::int64_t, 3> src{1, 1, in}, weight{1, 1, kernel};
  const auto geometry = detail::forward_geometry("conv_output_size", src, weight,
                                                 one_axis(stride, dilation, pad_begin, pad_end));
  return geometry.out[2];
}

std::int64_t conv_transpose_output_size(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                                        std::int64_t dilation, std::int64_t pad_begin,
                                        std::int64_t pad_end, std::int64_t output_padding) {
  const std::array<std::int64_t, 3> src{1, 1, in}, weight{1, 1, kernel};
  ConvParams params = one_axis(stride, dilation, pad_begin, pad_end);
  params.output_paddings[0] = output_padding;
  return detail::transposed_geometry("conv_transpose_output_size", src, weight, params).in[2];
}

std::vector<std::int64_t> conv_output_shape(std::span<const std::int64_t> src_shape,
                                            std::span<const std::int64_t> weight_shape,
                                            const ConvParams& params) {
  return detail::forward_geometry("conv_output_shape", src_shape, weight_shape, params).dst_shape();
}

std::vector<std::int64_t> conv_transpose_output_shape(std::span<const std::int64_t> src_shape,
                                                      std::span<const std::int64_t> weight_shape,
                                                      const ConvParams& params) {
  // The transposed output is the forward convolution's src side.
  return detail::transposed_geometry("conv_transpose_output_shape", src_shape, weight_shape, params)
      .src_shape();
}

std::vector<std::int64_t> unfold_output_shape(std::span<const std::int64_t> src_shape,
                                              std::span<const std::int64_t> kernel_size,
                                              const ConvParams& params) {
  const auto geometry =
      detail::window_geometry("unfold_output_shape", src_shape, kernel_size, params);
  return {geometry.batch, geometry.in_channels * geometry.kernel_volume(), geometry.out_pixels()};
}

}  // namespace fastconv
