// params.cpp — ConvParams setters and the 'same' / transposed output-size helpers.
#include <algorithm>
#include <limits>
#include <sstream>

#include "core/checked_math.hpp"
#include "core/format.hpp"
#include "fastconv/error.hpp"
#include "fastconv/params.hpp"

namespace fastconv {
namespace {

void assign_list(SpatialArray& target, std::span<const std::int64_t> values, int spatial_dims,
                 const char* name) {
  if (values.size() == 1) {
    for (int i = 0; i < spatial_dims; ++i) target[i] = values[0];
  } else if (values.size() == std::size_t(spatial_dims)) {
    for (int i = 0; i < spatial_dims; ++i) target[i] = values[i];
  } else {
    throw Error(ErrorKind::invalid_argument,
                std::string("ConvParams: ") + name + " has " + std::to_string(values.size()) +
                    " values " + detail::list_string(values) + "; expected 1 or spatial_dims = " +
                    std::to_string(spatial_dims));
  }
}

void check_sizes(std::span<const std::int64_t> values, int spatial_dims, const char* function,
                 const char* name) {
  if (values.size() != std::size_t(spatial_dims)) {
    throw Error(ErrorKind::invalid_argument,
                std::string("ConvParams::") + function + ": " + name + " has " +
                    std::to_string(values.size()) + " values " + detail::list_string(values) +
                    "; expected spatial_dims = " + std::to_string(spatial_dims));
  }
}

std::span<const std::int64_t> as_span(std::initializer_list<std::int64_t> values) {
  return {values.begin(), values.size()};
}

// Throws unless every size, stride and dilation of axis `i` is >= 1 and both paddings >= 0.
void check_axis(const char* function, int i, std::int64_t in, std::int64_t kernel,
                std::int64_t stride, std::int64_t dilation, std::int64_t pad_begin,
                std::int64_t pad_end) {
  if (in < 1 || kernel < 1 || stride < 1 || dilation < 1 || pad_begin < 0 || pad_end < 0) {
    throw Error(ErrorKind::invalid_argument,
                std::string("ConvParams::") + function + ": axis " + std::to_string(i) +
                    " has input " + std::to_string(in) + ", kernel " + std::to_string(kernel) +
                    ", stride " + std::to_string(stride) + ", dilation " +
                    std::to_string(dilation) + ", padding (" + std::to_string(pad_begin) + ", " +
                    std::to_string(pad_end) + "); sizes, stride and dilation must be >= 1, " +
                    "padding >= 0");
  }
}

// "ConvParams::same_padding: axis 1 kernel extent"
std::string quantity(const char* function, int i, const char* name) {
  return std::string("ConvParams::") + function + ": axis " + std::to_string(i) + " " + name;
}

}  // namespace

ConvParams::ConvParams(int dims) : spatial_dims(dims) {
  if (dims < 1 || dims > kMaxSpatialDims) {
    throw Error(ErrorKind::invalid_argument,
                "ConvParams: spatial_dims = " + std::to_string(dims) + "; expected 1, 2 or 3");
  }
}

ConvParams& ConvParams::set_stride(std::span<const std::int64_t> values) {
  assign_list(strides, values, spatial_dims, "stride");
  return *this;
}
ConvParams& ConvParams::set_dilation(std::span<const std::int64_t> values) {
  assign_list(dilations, values, spatial_dims, "dilation");
  return *this;
}
ConvParams& ConvParams::set_padding(std::span<const std::int64_t> begin,
                                    std::span<const std::int64_t> end) {
  assign_list(pad_begin, begin, spatial_dims, "padding (begin)");
  assign_list(pad_end, end, spatial_dims, "padding (end)");
  return *this;
}
ConvParams& ConvParams::set_output_padding(std::span<const std::int64_t> values) {
  assign_list(output_paddings, values, spatial_dims, "output_padding");
  return *this;
}

ConvParams& ConvParams::stride(std::initializer_list<std::int64_t> values) {
  return set_stride(as_span(values));
}
ConvParams& ConvParams::dilation(std::initializer_list<std::int64_t> values) {
  return set_dilation(as_span(values));
}
ConvParams& ConvParams::padding(std::initializer_list<std::int64_t> both_sides) {
  return set_padding(as_span(both_sides), as_span(both_sides));
}
ConvParams& ConvParams::padding(std::initializer_list<std::int64_t> begin,
                                std::initializer_list<std::int64_t> end) {
  return set_padding(as_span(begin), as_span(end));
}
ConvParams& ConvParams::output_padding(std::initializer_list<std::int64_t> values) {
  return set_output_padding(as_span(values));
}
ConvParams& ConvParams::groups(std::int64_t value) {
  group_count = value;
  return *this;
}

ConvParams& ConvParams::valid_padding() {
  pad_begin = {0, 0, 0};
  pad_end = {0, 0, 0};
  return *this;
}

ConvParams& ConvParams::same_padding(std::span<const std::int64_t> input_spatial,
                                     std::span<const std::int64_t> kernel_spatial,
                                     SamePadding mode) {
  check_sizes(input_spatial, spatial_dims, "same_padding", "input_spatial");
  check_sizes(kernel_spatial, spatial_dims, "same_padding", "kernel_spatial");
  SpatialArray begin{0, 0, 0}, end{0, 0, 0};
  for (int i = 0; i < spatial_dims; ++i) {
    const std::int64_t in = input_spatial[i], kernel = kernel_spatial[i];
    const std::int64_t stride = strides[i], dilation = dilations[i];
    check_axis("same_padding", i, in, kernel, stride, dilation, 0, 0);
    // out = ceil(in / stride); total = (out - 1) * stride + (kernel - 1) * dilation + 1 - in,
    // where (out - 1) * stride + 1 - in lies in (-stride, 0]: only the kernel extent can overflow.
    const std::int64_t out = (in - 1) / stride + 1;
    const std::int64_t overhang = (out - 1) * stride - (in - 1);
    const std::int64_t extent_minus_one =
        detail::checked_mul(kernel - 1, dilation, quantity("same_padding", i, "kernel extent"));
    const std::int64_t total = std::max<std::int64_t>(0, overhang + extent_minus_one);
    const std::int64_t smaller = total / 2, larger = total - total / 2;
    begin[i] = mode == SamePadding::upper ? smaller : larger;
    end[i] = mode == SamePadding::upper ? larger : smaller;
  }
  pad_begin = begin;  // assigned only when every axis is valid
  pad_end = end;
  return *this;
}

ConvParams& ConvParams::output_size_for_transposed(
    std::span<const std::int64_t> input_spatial, std::span<const std::int64_t> kernel_spatial,
    std::span<const std::int64_t> requested_output_spatial) {
  const char* function = "output_size_for_transposed";
  check_sizes(input_spatial, spatial_dims, function, "input_spatial");
  check_sizes(kernel_spatial, spatial_dims, function, "kernel_spatial");
  check_sizes(requested_output_spatial, spatial_dims, function, "requested_output_spatial");
  SpatialArray chosen{0, 0, 0};
  for (int i = 0; i < spatial_dims; ++i) {
    check_axis(function, i, input_spatial[i], kernel_spatial[i], strides[i], dilations[i],
               pad_begin[i], pad_end[i]);
    // minimum = (in - 1) * stride - pad_begin - pad_end + dilation * (kernel - 1) + 1
    const std::string what = quantity(function, i, "output size");
    std::int64_t minimum = detail::checked_mul(input_spatial[i] - 1, strides[i], what);
    minimum = detail::checked_add(
        minimum, detail::checked_mul(dilations[i], kernel_spatial[i] - 1, what), what);
    minimum = detail::checked_add(minimum, 1, what);
    minimum = detail::checked_sub(minimum, pad_begin[i], what);
    minimum = detail::checked_sub(minimum, pad_end[i], what);
    const std::int64_t limit = std::max(strides[i], dilations[i]);  // output_padding < limit
    const std::int64_t requested = requested_output_spatial[i];
    // extra = requested - minimum, compared without forming it (both may be near the limits).
    const bool below = requested < minimum;
    const bool above = !below && std::uint64_t(requested) - std::uint64_t(minimum) >= std::uint64_t(limit);
    if (below || above) {
      const std::int64_t top = minimum > std::numeric_limits<std::int64_t>::max() - (limit - 1)
                                   ? std::numeric_limits<std::int64_t>::max()
                                   : minimum + (limit - 1);
      throw Error(ErrorKind::invalid_argument,
                  "ConvParams::output_size_for_transposed: requested output size " +
                      std::to_string(requested) + " on axis " + std::to_string(i) +
                      " is outside the reachable range [" + std::to_string(minimum) + ", " +
                      std::to_string(top) + "]");
    }
    chosen[i] = requested - minimum;  // in [0, limit): fits
  }
  output_paddings = chosen;
  return *this;
}

std::string ConvParams::to_string() const {
  const auto list = [&](const SpatialArray& values) {
    return detail::list_string({values.data(), std::size_t(spatial_dims)});
  };
  std::ostringstream out;
  out << "stride=" << list(strides) << " dilation=" << list(dilations) << " pad=" << list(pad_begin)
      << "/" << list(pad_end) << " groups=" << group_count;
  if (std::any_of(output_paddings.begin(), output_paddings.begin() + spatial_dims,
                  [](std::int64_t v) { return v != 0; })) {
    out << " output_padding=" << list(output_paddings);
  }
  return out.str();
}

}  // namespace fastconv
