// layer.cpp — shapes, parameters, FLOP count and problem string of a benchmark Layer.
#include "layer.hpp"

#include <algorithm>
#include <optional>
#include <span>

#include "fastconv/plan.hpp"
#include "fastconv/shape.hpp"

namespace fastconv_bench {
namespace {

std::span<const std::int64_t> used_axes(const Layer& layer, const fastconv::SpatialArray& values) {
  return {values.data(), static_cast<std::size_t>(layer.spatial_dims)};
}

bool all_equal(std::span<const std::int64_t> values) {
  return std::all_of(values.begin(), values.end(),
                     [&](std::int64_t value) { return value == values.front(); });
}

bool all_equal_to(std::span<const std::int64_t> values, std::int64_t expected) {
  return std::all_of(values.begin(), values.end(),
                     [&](std::int64_t value) { return value == expected; });
}

std::int64_t product(std::span<const std::int64_t> values) {
  std::int64_t result = 1;
  for (std::int64_t value : values) result *= value;
  return result;
}

}  // namespace

fastconv::ConvParams conv_params(const Layer& layer) {
  fastconv::ConvParams params(layer.spatial_dims);
  params.set_stride(used_axes(layer, layer.strides))
      .set_dilation(used_axes(layer, layer.dilations))
      .set_padding(used_axes(layer, layer.paddings), used_axes(layer, layer.paddings))
      .groups(layer.group_count);
  return params;
}

fastconv::ConvParams conv_params(const Layer& layer, Direction direction) {
  fastconv::ConvParams params = conv_params(layer);
  if (direction != Direction::transposed) return params;
  // Transposed output size (out - 1) * stride - 2 * pad + dilation * (kernel - 1) + 1 +
  // output_padding must be the forward input size.
  const std::vector<std::int64_t> out = output_spatial(layer);
  std::vector<std::int64_t> output_padding;
  for (int axis = 0; axis < layer.spatial_dims; ++axis) {
    const std::int64_t without = (out[axis] - 1) * layer.strides[axis] - 2 * layer.paddings[axis] +
                                 layer.dilations[axis] * (layer.kernel[axis] - 1) + 1;
    output_padding.push_back(layer.input[axis] - without);
  }
  params.set_output_padding(output_padding);
  return params;
}

std::vector<std::int64_t> role_shape(const Layer& layer, Role role) {
  switch (role) {
    case Role::src: return src_shape(layer);
    case Role::weight: return weight_shape(layer);
    case Role::dst: return dst_shape(layer);
  }
  return {};
}

fastconv::ConvArgs direction_args(const Layer& layer, Direction direction, void* src, void* weight,
                                  void* dst) {
  using fastconv::DType;
  using fastconv::TensorView;
  const TensorView s = TensorView::contiguous(src, DType::float32, src_shape(layer));
  const TensorView w = TensorView::contiguous(weight, DType::float32, weight_shape(layer));
  const TensorView d = TensorView::contiguous(dst, DType::float32, dst_shape(layer));
  switch (direction) {
    case Direction::forward: return {.src = s, .weight = w, .dst = d};
    case Direction::backward_data: return {.weight = w, .diff_dst = d, .diff_src = s};
    case Direction::backward_weights: return {.src = s, .diff_dst = d, .diff_weight = w};
    case Direction::transposed: return {.src = d, .weight = w, .dst = s};
  }
  return {};
}

fastconv::ConvArgs with_forward_operand(fastconv::ConvArgs args, const Layer& layer,
                                        Direction direction, void* data) {
  const std::optional<Role> role = forward_operand_role(direction);
  if (!role) return args;
  const fastconv::TensorView view =
      fastconv::TensorView::contiguous(data, fastconv::DType::float32, role_shape(layer, *role));
  if (*role == Role::src) args.src = view;
  else args.weight = view;
  return args;
}

std::int64_t reduction_length(const Layer& layer, Direction direction) {
  const std::int64_t kernel_volume = product(used_axes(layer, layer.kernel));
  switch (direction) {
    case Direction::forward: return layer.in_channels / layer.group_count * kernel_volume;
    case Direction::backward_data:
    case Direction::transposed: return layer.out_channels / layer.group_count * kernel_volume;
    case Direction::backward_weights: {
      const std::vector<std::int64_t> out = output_spatial(layer);
      return layer.batch * product(out);
    }
  }
  return 1;
}

std::vector<std::int64_t> src_shape(const Layer& layer) {
  std::vector<std::int64_t> shape{layer.batch, layer.in_channels};
  for (std::int64_t size : used_axes(layer, layer.input)) shape.push_back(size);
  return shape;
}

std::vector<std::int64_t> weight_shape(const Layer& layer) {
  std::vector<std::int64_t> shape{layer.out_channels, layer.in_channels / layer.group_count};
  for (std::int64_t size : used_axes(layer, layer.kernel)) shape.push_back(size);
  return shape;
}

std::vector<std::int64_t> output_spatial(const Layer& layer) {
  std::vector<std::int64_t> sizes;
  for (int axis = 0; axis < layer.spatial_dims; ++axis) {
    sizes.push_back(fastconv::conv_output_size(layer.input[axis], layer.kernel[axis],
                                               layer.strides[axis], layer.dilations[axis],
                                               layer.paddings[axis], layer.paddings[axis]));
  }
  return sizes;
}

std::vector<std::int64_t> dst_shape(const Layer& layer) {
  std::vector<std::int64_t> shape{layer.batch, layer.out_channels};
  for (std::int64_t size : output_spatial(layer)) shape.push_back(size);
  return shape;
}

double direct_pair_count(const Layer& layer) {
  const std::vector<std::int64_t> out = output_spatial(layer);
  return double(layer.batch) * double(layer.out_channels) *
         double(layer.in_channels / layer.group_count) *
         double(product(used_axes(layer, layer.kernel))) * double(product(out));
}

double direct_flop_count(const Layer& layer) { return 2.0 * direct_pair_count(layer); }

std::string problem_string(const Layer& layer) {
  const std::vector<std::int64_t> out = output_spatial(layer);
  const auto input = used_axes(layer, layer.input);
  const auto kernel = used_axes(layer, layer.kernel);
  const auto strides = used_axes(layer, layer.strides);
  const auto paddings = used_axes(layer, layer.paddings);
  const auto dilations = used_axes(layer, layer.dilations);

  const bool square = all_equal(input) && all_equal(out) && all_equal(kernel) &&
                      all_equal(strides) && all_equal(paddings) && all_equal(dilations);
  const std::size_t printed_axes = square ? 1 : out.size();
  // Axis letters of the used axes: "w" for 1-D, "hw" for 2-D, "dhw" for 3-D.
  const std::string_view axis_letters = std::string_view("dhw").substr(3 - out.size());

  std::string text;
  // Appends e.g. "ic" "256"; built with += because g++ 12 gives a false -Wrestrict warning
  // on `"literal" + std::string`.
  auto append = [&](std::string_view label, std::int64_t value) {
    text += label;
    text += std::to_string(value);
  };
  auto append_axes = [&](char prefix, std::span<const std::int64_t> values) {
    for (std::size_t axis = 0; axis < printed_axes; ++axis) {
      const char label[] = {prefix, axis_letters[axis]};
      append({label, 2}, values[axis]);
    }
  };

  if (layer.group_count != 1) append("g", layer.group_count);
  append("mb", layer.batch);
  append("ic", layer.in_channels);
  append_axes('i', input);
  append("oc", layer.out_channels);
  append_axes('o', out);
  append_axes('k', kernel);
  if (!all_equal_to(strides, 1)) append_axes('s', strides);
  if (!all_equal_to(paddings, 0)) append_axes('p', paddings);
  if (!all_equal_to(dilations, 1)) append_axes('d', dilations);
  return text;
}

}  // namespace fastconv_bench
