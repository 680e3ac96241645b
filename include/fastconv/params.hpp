// fastconv/params.hpp — convolution parameters for 1, 2 and 3 spatial dimensions.
//
// Every per-dimension list has `spatial_dims` entries (1, 2 or 3), ordered like the tensor's
// spatial axes (D, H, W). Padding is given per side: pad_begin[i] is added before the first
// element of axis i, pad_end[i] after the last; they may differ (asymmetric padding).
//
//   auto params = fastconv::ConvParams(2).stride({2}).padding({1}).groups(32);
//
// Setters taking a list accept either one value (applied to every dimension) or exactly
// `spatial_dims` values; anything else throws fastconv::Error. Value checks (stride >= 1, ...)
// happen when an operation or plan is created, against the operands' shapes.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

namespace fastconv {

inline constexpr int kMaxSpatialDims = 3;
using SpatialArray = std::array<std::int64_t, kMaxSpatialDims>;

// ONNX auto_pad semantics: SAME_UPPER puts the odd extra padding at the end,
// SAME_LOWER at the beginning.
enum class SamePadding { upper, lower };

struct ConvParams {
  int spatial_dims = 2;
  SpatialArray strides{1, 1, 1};
  SpatialArray dilations{1, 1, 1};
  SpatialArray pad_begin{0, 0, 0};
  SpatialArray pad_end{0, 0, 0};
  SpatialArray output_paddings{0, 0, 0};  // transposed convolution only; < stride or < dilation
  std::int64_t group_count = 1;           // depthwise: groups == in-channels (any multiplier)

  ConvParams() = default;
  explicit ConvParams(int spatial_dims);

  ConvParams& stride(std::initializer_list<std::int64_t> values);
  ConvParams& dilation(std::initializer_list<std::int64_t> values);
  ConvParams& padding(std::initializer_list<std::int64_t> both_sides);
  ConvParams& padding(std::initializer_list<std::int64_t> begin,
                      std::initializer_list<std::int64_t> end);
  ConvParams& output_padding(std::initializer_list<std::int64_t> values);
  ConvParams& groups(std::int64_t value);

  // Span versions of the setters, for callers holding runtime lists.
  ConvParams& set_stride(std::span<const std::int64_t> values);
  ConvParams& set_dilation(std::span<const std::int64_t> values);
  ConvParams& set_padding(std::span<const std::int64_t> begin, std::span<const std::int64_t> end);
  ConvParams& set_output_padding(std::span<const std::int64_t> values);

  // 'valid': no padding at all.
  ConvParams& valid_padding();
  // 'same': pads so that out = ceil(in / stride) (out = in for stride 1), from the input's and
  // kernel's spatial sizes; the odd extra goes to the end (upper) or the beginning (lower).
  // Exact for every int64 size, stride and dilation >= 1 (fastconv::Error invalid_argument
  // otherwise); a kernel extent (kernel - 1) * dilation beyond 64 bits throws overflow. The
  // padding is changed only when every axis succeeds.
  ConvParams& same_padding(std::span<const std::int64_t> input_spatial,
                           std::span<const std::int64_t> kernel_spatial,
                           SamePadding mode = SamePadding::upper);
  // Transposed convolution: chooses output_padding so that the output has the requested
  // spatial size (as torch's output_size argument); throws if no valid output_padding gives it,
  // if a size, stride or dilation is < 1 or a padding < 0 (invalid_argument), or if the
  // smallest output size does not fit 64 bits (overflow).
  ConvParams& output_size_for_transposed(std::span<const std::int64_t> input_spatial,
                                         std::span<const std::int64_t> kernel_spatial,
                                         std::span<const std::int64_t> requested_output_spatial);

  std::string to_string() const;  // "stride=[1, 1] dilation=[1, 1] pad=[0, 0]/[0, 0] groups=1"
};

}  // namespace fastconv
