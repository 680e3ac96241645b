// layer.hpp — one benchmark problem: a forward float32 convolution on contiguous NC(D)(H)W
// tensors, and everything derived from it (shapes, ConvParams, the one-line problem string).
//
// A Layer is a plain constexpr value built with chained setters, so a suite table reads like a
// list of problems:
//   conv2d("res4_3x3", /*batch=*/1, /*in=*/256, /*out=*/256, /*size=*/14, /*kernel=*/3).pad(1)
// Per-axis arrays list the spatial axes in tensor order (D, H, W); only the first
// `spatial_dims` entries are used. Padding is symmetric (the same on both sides).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "direction.hpp"
#include "fastconv/params.hpp"

namespace fastconv_bench {

struct Layer {
  std::string_view name;
  int spatial_dims = 2;
  std::int64_t batch = 1;
  std::int64_t in_channels = 1;
  std::int64_t out_channels = 1;
  std::int64_t group_count = 1;
  fastconv::SpatialArray input{1, 1, 1};
  fastconv::SpatialArray kernel{1, 1, 1};
  fastconv::SpatialArray strides{1, 1, 1};
  fastconv::SpatialArray paddings{0, 0, 0};
  fastconv::SpatialArray dilations{1, 1, 1};

  constexpr Layer stride(std::int64_t value) const {
    Layer layer = *this;
    layer.strides = {value, value, value};
    return layer;
  }
  constexpr Layer pad(std::int64_t value) const {
    Layer layer = *this;
    layer.paddings = {value, value, value};
    return layer;
  }
  constexpr Layer dilation(std::int64_t value) const {
    Layer layer = *this;
    layer.dilations = {value, value, value};
    return layer;
  }
  constexpr Layer groups(std::int64_t value) const {
    Layer layer = *this;
    layer.group_count = value;
    return layer;
  }
  // Depthwise: one group per input channel.
  constexpr Layer depthwise() const { return groups(in_channels); }
};

// Any number of spatial dimensions; the builders below are shorthands for it.
constexpr Layer conv_layer(std::string_view name, int spatial_dims, std::int64_t batch,
                           std::int64_t in_channels, std::int64_t out_channels,
                           fastconv::SpatialArray input, fastconv::SpatialArray kernel) {
  Layer layer;
  layer.name = name;
  layer.spatial_dims = spatial_dims;
  layer.batch = batch;
  layer.in_channels = in_channels;
  layer.out_channels = out_channels;
  layer.input = input;
  layer.kernel = kernel;
  return layer;
}

// 1-D: input (N, C, length), kernel of `kernel` taps.
constexpr Layer conv1d(std::string_view name, std::int64_t batch, std::int64_t in_channels,
                       std::int64_t out_channels, std::int64_t length, std::int64_t kernel) {
  return conv_layer(name, 1, batch, in_channels, out_channels, {length, 1, 1}, {kernel, 1, 1});
}

// 2-D: square input size x size, square kernel.
constexpr Layer conv2d(std::string_view name, std::int64_t batch, std::int64_t in_channels,
                       std::int64_t out_channels, std::int64_t size, std::int64_t kernel) {
  return conv_layer(name, 2, batch, in_channels, out_channels, {size, size, 1},
                    {kernel, kernel, 1});
}

// 3-D: input depth x height x width, cubic kernel.
constexpr Layer conv3d(std::string_view name, std::int64_t batch, std::int64_t in_channels,
                       std::int64_t out_channels, fastconv::SpatialArray input_dhw,
                       std::int64_t kernel) {
  return conv_layer(name, 3, batch, in_channels, out_channels, input_dhw, {kernel, kernel, kernel});
}

fastconv::ConvParams conv_params(const Layer& layer);
// The parameters of `direction` (direction.hpp): for transposed, with the output_padding that
// makes its output the forward layer's input size.
fastconv::ConvParams conv_params(const Layer& layer, Direction direction);
std::vector<std::int64_t> role_shape(const Layer& layer, Role role);  // src / weight / dst shape
// The direction's operands as ConvArgs over the three buffers (null data: shapes only).
fastconv::ConvArgs direction_args(const Layer& layer, Direction direction, void* src,
                                  void* weight, void* dst);
// `args` plus the forward operand an inner operation's gradient reads
// (forward_operand_role(direction): src for bwd_d, weight for bwd_w) over `data`, a buffer of
// that role's shape; `args` unchanged for fwd and transposed.
fastconv::ConvArgs with_forward_operand(fastconv::ConvArgs args, const Layer& layer,
                                        Direction direction, void* data);
// Products summed per output element of `direction` (for the peers' result tolerance).
std::int64_t reduction_length(const Layer& layer, Direction direction);
std::vector<std::int64_t> src_shape(const Layer& layer);       // (N, C, in...)
std::vector<std::int64_t> weight_shape(const Layer& layer);    // (K, C / groups, kernel...)
std::vector<std::int64_t> output_spatial(const Layer& layer);  // out... (throws fastconv::Error)
std::vector<std::int64_t> dst_shape(const Layer& layer);       // (N, K, out...)

// Pair-operations of the direct algorithm (one combine + reduce each; for the convolution, its
// multiply-adds): N * K * (C / groups) * prod(kernel) * prod(out), the same for every inner
// operation and direction. Computed independently of the library.
double direct_pair_count(const Layer& layer);
// 2 * direct_pair_count(): the FLOP of the convolution's multiply-adds, to cross-check
// ConvPlan::flop_count().
double direct_flop_count(const Layer& layer);

// oneDNN benchdnn-style description, e.g. "mb1ic256ih14oc256oh14kh3ph1" or
// "g32mb1ic128ih56oc128oh56kh3ph1". Square (cubic) problems print only the first axis letter
// (h for 2-D, d for 3-D); other problems print every axis (d, h, w). 1-D uses w. Stride,
// padding and dilation appear only when not at their defaults (1, 0, 1).
// Unlike benchdnn, whose dilation is zero-based, d<axis> is the dilation itself ("dh2" means
// every second input element, as PyTorch's dilation=2).
std::string problem_string(const Layer& layer);

}  // namespace fastconv_bench
