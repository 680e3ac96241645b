// conv_geometry.hpp — a convolution problem normalised to three spatial axes.
//
// Every convolution-family operation is described by the FORWARD convolution it belongs to:
// `in` is the forward input's spatial size (the "large" side), `out` the forward output's,
// `in_channels`/`out_channels` the forward convolution's C and K. A transposed convolution is
// the adjoint of the forward convolution whose input is the transposed output. 1-D and 2-D
// problems get leading axes of size 1 (kernel 1, stride 1, no padding), so engines only ever
// see 3 spatial axes.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "fastconv/params.hpp"

namespace fastconv::detail {

struct ConvGeometry {
  int spatial_dims = 2;
  std::int64_t batch = 0;
  std::int64_t in_channels = 0;   // C of the forward convolution
  std::int64_t out_channels = 0;  // K of the forward convolution
  std::int64_t groups = 1;
  SpatialArray in{1, 1, 1};
  SpatialArray out{1, 1, 1};
  SpatialArray kernel{1, 1, 1};
  SpatialArray stride{1, 1, 1};
  SpatialArray dilation{1, 1, 1};
  SpatialArray pad_begin{0, 0, 0};
  SpatialArray pad_end{0, 0, 0};

  std::int64_t in_channels_per_group() const { return in_channels / groups; }
  std::int64_t out_channels_per_group() const { return out_channels / groups; }
  std::int64_t in_pixels() const { return in[0] * in[1] * in[2]; }
  std::int64_t out_pixels() const { return out[0] * out[1] * out[2]; }
  std::int64_t kernel_volume() const { return kernel[0] * kernel[1] * kernel[2]; }
  // Multiply-adds of the direct algorithm.
  double multiply_adds() const {
    return double(batch) * double(out_channels) * double(out_pixels()) *
           double(in_channels_per_group()) * double(kernel_volume());
  }

  // Shapes in the library's public layouts (rank spatial_dims + 2).
  std::vector<std::int64_t> src_shape() const;     // (N, C, in...)
  std::vector<std::int64_t> dst_shape() const;     // (N, K, out...)
  // (K, C/g, kernel...). This is also the transposed convolution's weight layout
  // (C_in, C_out/g, kernel...), since its C_in is this geometry's out_channels.
  std::vector<std::int64_t> weight_shape() const;
};

// Forward convolution: src (N, C, in...) and weight (K, C/g, k...). Validates every parameter
// (ranks, channels, groups, stride, dilation, padding, kernel fit, 64-bit overflow) and names
// `operation` and the offending argument in the error. output_padding must be zero. N, C and K
// may be zero (groups must still divide C and K): plans run such problems in
// degenerate_runs.hpp.
ConvGeometry forward_geometry(const char* operation, std::span<const std::int64_t> src_shape,
                              std::span<const std::int64_t> weight_shape,
                              const ConvParams& params);

// Transposed convolution: src (N, C, in...) and weight (C, K/g, k...). The returned geometry's
// `in` is the transposed output size, `out` the transposed input size; in/out channels are
// K and C. output_padding must be < stride or < dilation on every axis.
ConvGeometry transposed_geometry(const char* operation, std::span<const std::int64_t> src_shape,
                                 std::span<const std::int64_t> weight_shape,
                                 const ConvParams& params);

// unfold/fold: a kernel with no channels mixing; validates as forward_geometry with
// in_channels = out_channels = C and groups = C.
ConvGeometry window_geometry(const char* operation, std::span<const std::int64_t> image_shape,
                             std::span<const std::int64_t> kernel_size, const ConvParams& params);

// One axis of a stride-1 convolution from `in` input to `out` output elements, kernel extent
// (K - 1) * dilation and padding `pad_begin` before (negative: input elements skipped), as the
// input elements to skip (`crop`) and keep (`in`) and non-negative paddings on both sides
// (pad_end from the sizes: out = in + pad_begin + pad_end - extent). `in` <= 0 when no output
// element reads an input element.
struct CroppedAxis {
  std::int64_t crop, in, pad_begin, pad_end;
};
CroppedAxis crop_negative_padding(std::int64_t in, std::int64_t out, std::int64_t extent, std::int64_t pad_begin);

// Checks that an operand has the expected shape; names it in the error.
void expect_shape(const char* operation, const char* argument,
                  std::span<const std::int64_t> actual, std::span<const std::int64_t> expected);

}  // namespace fastconv::detail
