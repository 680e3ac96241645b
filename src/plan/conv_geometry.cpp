// conv_geometry.cpp — validation of shapes and parameters, and the derived geometry.
#include "plan/conv_geometry.hpp"

#include <algorithm>
#include <string>

#include "core/checked_math.hpp"
#include "core/format.hpp"
#include "fastconv/error.hpp"

namespace fastconv::detail {
namespace {

[[noreturn]] void fail(const char* operation, const std::string& message) {
  throw Error(ErrorKind::invalid_argument, std::string(operation) + ": " + message);
}

std::string axis_name(int axis) { return "[" + std::to_string(axis) + "]"; }

// Checks spatial_dims and that both operands have rank spatial_dims + 2.
void check_ranks(const char* operation, std::span<const std::int64_t> src,
                 std::span<const std::int64_t> weight, const char* weight_name,
                 const ConvParams& params) {
  const int dims = params.spatial_dims;
  if (dims < 1 || dims > kMaxSpatialDims) {
    fail(operation, "params.spatial_dims = " + std::to_string(dims) + "; expected 1, 2 or 3");
  }
  const std::size_t rank = std::size_t(dims) + 2;
  if (src.size() != rank) {
    fail(operation, "src has rank " + std::to_string(src.size()) + " (shape " + list_string(src) +
                        "); expected rank " + std::to_string(rank) +
                        " (N, C, spatial...) for params.spatial_dims = " + std::to_string(dims));
  }
  if (weight.size() != rank) {
    fail(operation, std::string(weight_name) + " has rank " + std::to_string(weight.size()) +
                        " (shape " + list_string(weight) + "), but src has rank " +
                        std::to_string(rank));
  }
}

// Checks stride, dilation, padding and sizes that every convolution kind shares.
void check_axis_params(const char* operation, std::span<const std::int64_t> src,
                       std::span<const std::int64_t> weight, const ConvParams& params) {
  for (int i = 0; i < params.spatial_dims; ++i) {
    const std::string axis = axis_name(i);
    if (params.strides[i] < 1) {
      fail(operation, "stride" + axis + " = " + std::to_string(params.strides[i]) +
                          "; expected >= 1");
    }
    if (params.dilations[i] < 1) {
      fail(operation, "dilation" + axis + " = " + std::to_string(params.dilations[i]) +
                          "; expected >= 1");
    }
    if (params.pad_begin[i] < 0 || params.pad_end[i] < 0) {
      fail(operation, "padding" + axis + " = (" + std::to_string(params.pad_begin[i]) + ", " +
                          std::to_string(params.pad_end[i]) + "); negative padding is not allowed");
    }
    if (src[2 + i] < 1) {
      fail(operation, "src spatial size" + axis + " = " + std::to_string(src[2 + i]) +
                          " (src shape " + list_string(src) + "); expected >= 1");
    }
    if (weight[2 + i] < 1) {
      fail(operation, "kernel size" + axis + " = " + std::to_string(weight[2 + i]) +
                          "; expected >= 1");
    }
  }
}

void check_groups(const char* operation, const ConvParams& params) {
  if (params.group_count < 1) {
    fail(operation, "groups = " + std::to_string(params.group_count) + "; expected >= 1");
  }
}

// Element counts and byte sizes of every tensor must fit in 64 bits, counting a zero extent
// as 1: an empty tensor's other extents are still multiplied together (pixels per image with an
// empty batch, kernel volume with no channels).
void check_element_count(const char* operation, const char* argument,
                         std::span<const std::int64_t> shape) {
  const std::int64_t count = checked_extent_product(
      shape, std::string(operation) + ": " + argument + " element count of " + list_string(shape));
  checked_mul(count, 8, std::string(operation) + ": " + argument + " byte size");
}

void check_counts(const char* operation, const ConvGeometry& geometry) {
  check_element_count(operation, "src", geometry.src_shape());
  check_element_count(operation, "dst", geometry.dst_shape());
  check_element_count(operation, "weight", geometry.weight_shape());
  // Work counts used by engines (e.g. im2col rows x columns); the geometry's own products
  // (in_pixels(), out_pixels(), kernel_volume()) fit once these do.
  const std::string what = std::string(operation) + ": unfolded matrix size";
  const std::int64_t kernel_volume = checked_extent_product(geometry.kernel, what);
  const std::int64_t out_pixels = checked_extent_product(geometry.out, what);
  checked_extent_product(geometry.in, std::string(operation) + ": input pixels");
  checked_mul(checked_mul(checked_mul(std::max<std::int64_t>(geometry.in_channels, 1),
                                      kernel_volume, what),
                          out_pixels, what),
              8, what);
}

// A stride along an axis with one output position, or a dilation along an axis with one kernel
// tap, is never stepped: it becomes 1 (the same problem), so that no huge irrelevant value
// (stride = INT64_MAX for "one window") enters the engines' index arithmetic.
void drop_unused_steps(ConvGeometry& geometry) {
  for (int axis = 0; axis < kMaxSpatialDims; ++axis) {
    if (geometry.out[axis] == 1) geometry.stride[axis] = 1;
    if (geometry.kernel[axis] == 1) geometry.dilation[axis] = 1;
  }
}

void fill_axes(ConvGeometry& geometry, const ConvParams& params) {
  // Leading unused axes keep their defaults (size 1, kernel 1, stride 1, no padding).
  const int offset = kMaxSpatialDims - params.spatial_dims;
  for (int i = 0; i < params.spatial_dims; ++i) {
    geometry.stride[offset + i] = params.strides[i];
    geometry.dilation[offset + i] = params.dilations[i];
    geometry.pad_begin[offset + i] = params.pad_begin[i];
    geometry.pad_end[offset + i] = params.pad_end[i];
  }
}

}  // namespace

static std::vector<std::int64_t> make_shape(std::int64_t a, std::int64_t b, const SpatialArray& s,
                                            int dims) {
  std::vector<std::int64_t> shape{a, b};
  for (int i = kMaxSpatialDims - dims; i < kMaxSpatialDims; ++i) shape.push_back(s[i]);
  return shape;
}

std::vector<std::int64_t> ConvGeometry::src_shape() const {
  return make_shape(batch, in_channels, in, spatial_dims);
}
std::vector<std::int64_t> ConvGeometry::dst_shape() const {
  return make_shape(batch, out_channels, out, spatial_dims);
}
std::vector<std::int64_t> ConvGeometry::weight_shape() const {
  return make_shape(out_channels, in_channels_per_group(), kernel, spatial_dims);
}

ConvGeometry forward_geometry(const char* operation, std::span<const std::int64_t> src,
                              std::span<const std::int64_t> weight, const ConvParams& params) {
  check_ranks(operation, src, weight, "weight", params);
  check_groups(operation, params);
  const std::int64_t batch = src[0], channels = src[1], out_channels = weight[0];
  const std::int64_t groups = params.group_count;
  if (batch < 0) fail(operation, "batch size src.shape[0] = " + std::to_string(batch) + " < 0");
  if (channels < 0) fail(operation, "src channels src.shape[1] = " + std::to_string(channels) + " < 0");
  if (out_channels < 0) {
    fail(operation, "weight out-channels weight.shape[0] = " + std::to_string(out_channels) + " < 0");
  }
  if (channels % groups != 0) {
    fail(operation, "groups = " + std::to_string(groups) + " does not divide src channels " +
                        std::to_string(channels));
  }
  if (out_channels % groups != 0) {
    fail(operation, "groups = " + std::to_string(groups) +
                        " does not divide out-channels weight.shape[0] = " +
                        std::to_string(out_channels));
  }
  if (weight[1] != channels / groups) {
    fail(operation, "weight.shape[1] = " + std::to_string(weight[1]) + ", but src has " +
                        std::to_string(channels) + " channels and groups = " +
                        std::to_string(groups) + " (expected " +
                        std::to_string(channels / groups) + ")");
  }
  for (int i = 0; i < params.spatial_dims; ++i) {
    if (params.output_paddings[i] != 0) {
      fail(operation, "output_padding" + axis_name(i) + " = " +
                          std::to_string(params.output_paddings[i]) +
                          "; output_padding is only for transposed convolution");
    }
  }
  check_axis_params(operation, src, weight, params);

  ConvGeometry geometry;
  geometry.spatial_dims = params.spatial_dims;
  geometry.batch = batch;
  geometry.in_channels = channels;
  geometry.out_channels = out_channels;
  geometry.groups = groups;
  fill_axes(geometry, params);
  const int offset = kMaxSpatialDims - params.spatial_dims;
  for (int i = 0; i < params.spatial_dims; ++i) {
    const std::string what = std::string(operation) + ": padded size" + axis_name(i);
    const std::int64_t padded =
        checked_add(checked_add(src[2 + i], params.pad_begin[i], what), params.pad_end[i], what);
    const std::string extent_what = std::string(operation) + ": kernel extent" + axis_name(i) +
                                    " (dilation * (kernel - 1) + 1)";
    const std::int64_t extent = checked_add(
        checked_mul(params.dilations[i], weight[2 + i] - 1, extent_what), 1, extent_what);
    if (extent > padded) {
      fail(operation, "kernel extent" + axis_name(i) + " = " + std::to_string(extent) +
                          " (kernel " + std::to_string(weight[2 + i]) + ", dilation " +
                          std::to_string(params.dilations[i]) +
                          ") is larger than the padded input " + std::to_string(padded) +
                          " (size " + std::to_string(src[2 + i]) + " + padding " +
                          std::to_string(params.pad_begin[i]) + " + " +
                          std::to_string(params.pad_end[i]) + ")");
    }
    geometry.in[offset + i] = src[2 + i];
    geometry.kernel[offset + i] = weight[2 + i];
    geometry.out[offset + i] = (padded - extent) / params.strides[i] + 1;
  }
  drop_unused_steps(geometry);
  check_counts(operation, geometry);
  return geometry;
}

ConvGeometry transposed_geometry(const char* operation, std::span<const std::int64_t> src,
                                 std::span<const std::int64_t> weight, const ConvParams& params) {
  check_ranks(operation, src, weight, "weight", params);
  check_groups(operation, params);
  const std::int64_t batch = src[0], channels = src[1], groups = params.group_count;
  if (batch < 0) fail(operation, "batch size src.shape[0] = " + std::to_string(batch) + " < 0");
  if (channels < 0) fail(operation, "src channels src.shape[1] = " + std::to_string(channels) + " < 0");
  if (weight[0] != channels) {
    fail(operation, "weight.shape[0] = " + std::to_string(weight[0]) +
                        ", but src has " + std::to_string(channels) +
                        " channels (transposed weight layout is (C_in, C_out/groups, k...))");
  }
  if (channels % groups != 0) {
    fail(operation, "groups = " + std::to_string(groups) + " does not divide src channels " +
                        std::to_string(channels));
  }
  if (weight[1] < 0) {
    fail(operation, "weight.shape[1] = " + std::to_string(weight[1]) + " < 0");
  }
  check_axis_params(operation, src, weight, params);

  ConvGeometry geometry;
  geometry.spatial_dims = params.spatial_dims;
  geometry.batch = batch;
  geometry.in_channels = checked_mul(weight[1], groups, std::string(operation) + ": out-channels");
  geometry.out_channels = channels;
  geometry.groups = groups;
  fill_axes(geometry, params);
  const int offset = kMaxSpatialDims - params.spatial_dims;
  for (int i = 0; i < params.spatial_dims; ++i) {
    const std::int64_t output_padding = params.output_paddings[i];
    const std::int64_t limit = std::max(params.strides[i], params.dilations[i]);
    if (output_padding < 0 || output_padding >= limit) {
      fail(operation, "output_padding" + axis_name(i) + " = " + std::to_string(output_padding) +
                          "; must be >= 0 and smaller than stride (" +
                          std::to_string(params.strides[i]) + ") or dilation (" +
                          std::to_string(params.dilations[i]) + ")");
    }
    const std::string what = std::string(operation) + ": output size" + axis_name(i);
    std::int64_t size = checked_mul(src[2 + i] - 1, params.strides[i], what);
    size = checked_add(size, checked_mul(params.dilations[i], weight[2 + i] - 1, what), what);
    size = checked_add(size, 1 + output_padding, what);
    size = checked_add(size, -params.pad_begin[i], what);
    size = checked_add(size, -params.pad_end[i], what);
    if (size < 1) {
      fail(operation, "output size" + axis_name(i) + " = " + std::to_string(size) +
                          " < 1: padding (" + std::to_string(params.pad_begin[i]) + ", " +
                          std::to_string(params.pad_end[i]) +
                          ") removes more than the transposed convolution produces");
    }
    geometry.in[offset + i] = size;
    geometry.out[offset + i] = src[2 + i];
    geometry.kernel[offset + i] = weight[2 + i];
  }
  drop_unused_steps(geometry);
  check_counts(operation, geometry);
  return geometry;
}

ConvGeometry window_geometry(const char* operation, std::span<const std::int64_t> image_shape,
                             std::span<const std::int64_t> kernel_size, const ConvParams& params) {
  if (params.group_count != 1) {
    fail(operation, "groups = " + std::to_string(params.group_count) +
                        "; unfold/fold take no groups (leave it at 1)");
  }
  if (kernel_size.size() != std::size_t(params.spatial_dims)) {
    fail(operation, "kernel_size has " + std::to_string(kernel_size.size()) + " values " +
                        list_string(kernel_size) + "; expected params.spatial_dims = " +
                        std::to_string(params.spatial_dims));
  }
  if (image_shape.size() < 2) {
    fail(operation, "image has rank " + std::to_string(image_shape.size()) +
                        "; expected (N, C, spatial...)");
  }
  // One group per channel; no channels (C = 0) is one group of none.
  const std::int64_t channels = image_shape[1];
  std::vector<std::int64_t> weight{channels, channels == 0 ? 0 : 1};
  weight.insert(weight.end(), kernel_size.begin(), kernel_size.end());
  ConvParams per_channel = params;
  per_channel.group_count = std::max<std::int64_t>(channels, 1);
  return forward_geometry(operation, image_shape, weight, per_channel);
}

void expect_shape(const char* operation, const char* argument,
                  std::span<const std::int64_t> actual, std::span<const std::int64_t> expected) {
  if (!std::equal(actual.begin(), actual.end(), expected.begin(), expected.end())) {
    fail(operation, std::string(argument) + " has shape " + list_string(actual) +
                        "; expected " + list_string(expected));
  }
}

CroppedAxis crop_negative_padding(std::int64_t in, std::int64_t out, std::int64_t extent, std::int64_t pad_begin) {
  CroppedAxis axis{0, in, pad_begin, out + extent - in - pad_begin};
  if (axis.pad_begin < 0) axis.crop = -axis.pad_begin, axis.in += axis.pad_begin, axis.pad_begin = 0;
  if (axis.pad_end < 0) axis.in += axis.pad_end, axis.pad_end = 0;
  return axis;
}

}  // namespace fastconv::detail
