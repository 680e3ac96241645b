// fastconv/shape.hpp — output-shape functions.
//
// Per spatial axis, with effective kernel extent e = dilation * (kernel - 1) + 1:
//   convolution:            out = floor((in + pad_begin + pad_end - e) / stride) + 1
//   transposed convolution: out = (in - 1) * stride - pad_begin - pad_end + e + output_padding
// Both throw fastconv::Error for shapes or parameters that give no valid output.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "fastconv/params.hpp"

namespace fastconv {

// One spatial axis of a convolution; throws if the padded input is smaller than the kernel.
std::int64_t conv_output_size(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                              std::int64_t dilation, std::int64_t pad_begin, std::int64_t pad_end);

// One spatial axis of a transposed convolution.
std::int64_t conv_transpose_output_size(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                                        std::int64_t dilation, std::int64_t pad_begin,
                                        std::int64_t pad_end, std::int64_t output_padding);

// Full shapes. src is (N, C, spatial...); weight is (K, C/groups, kernel...) for convolution and
// (C, K/groups, kernel...) for transposed convolution (PyTorch's layouts). Returns (N, K, out...).
std::vector<std::int64_t> conv_output_shape(std::span<const std::int64_t> src_shape,
                                            std::span<const std::int64_t> weight_shape,
                                            const ConvParams& params);
std::vector<std::int64_t> conv_transpose_output_shape(std::span<const std::int64_t> src_shape,
                                                      std::span<const std::int64_t> weight_shape,
                                                      const ConvParams& params);

// unfold: src (N, C, spatial...) -> (N, C * prod(kernel), L) with L = prod(conv output sizes).
std::vector<std::int64_t> unfold_output_shape(std::span<const std::int64_t> src_shape,
                                              std::span<const std::int64_t> kernel_size,
                                              const ConvParams& params);

}  // namespace fastconv
