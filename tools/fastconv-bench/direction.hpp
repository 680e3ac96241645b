// direction.hpp — which convolution of a layer is timed (--dir).
//
// A Layer describes the FORWARD convolution: src (N, C, in...), weight (K, C/g, k...), dst
// (N, K, out...). Every direction works on buffers of those three shapes; it reads two of them
// and writes the third (output_role()):
//   fwd         src, weight          -> dst          ConvKind::forward
//   bwd_d       dst (diff_dst), weight -> src (diff_src)     ConvKind::backward_data
//   bwd_w       src, dst (diff_dst)  -> weight (diff_weight) ConvKind::backward_weights
//   transposed  dst, weight          -> src          ConvKind::transposed: the forward layer's
//               output is the transposed op's input, and the weight (K, C/g, k...) is read as the
//               transposed layout (in = K, out/g = C/g); output_padding makes its output exactly
//               the forward layer's input size.
// Every direction does the forward layer's multiply-adds (ConvPlan::flop_count()).
//
// The gradients of an inner operation other than the convolution (fastconv/inner_op.hpp) also
// read one more forward operand (forward_operand_role()): bwd_d the forward's src x, bwd_w the
// forward's weight w. They have no transposed form.
#pragma once

#include <optional>
#include <string_view>

#include "fastconv/plan.hpp"

namespace fastconv_bench {

enum class Direction { forward, backward_data, backward_weights, transposed };
inline constexpr Direction kAllDirections[] = {Direction::forward, Direction::backward_data,
                                               Direction::backward_weights, Direction::transposed};

// The forward layer's tensors, as the buffers every direction uses.
enum class Role { src, weight, dst };

inline const char* direction_name(Direction direction) {
  switch (direction) {
    case Direction::forward: return "fwd";
    case Direction::backward_data: return "bwd_d";
    case Direction::backward_weights: return "bwd_w";
    case Direction::transposed: return "transposed";
  }
  return "?";
}

inline std::optional<Direction> parse_direction_name(std::string_view name) {
  for (Direction direction : kAllDirections) {
    if (name == direction_name(direction)) return direction;
  }
  return std::nullopt;
}

inline fastconv::ConvKind conv_kind(Direction direction) {
  switch (direction) {
    case Direction::forward: return fastconv::ConvKind::forward;
    case Direction::backward_data: return fastconv::ConvKind::backward_data;
    case Direction::backward_weights: return fastconv::ConvKind::backward_weights;
    case Direction::transposed: return fastconv::ConvKind::transposed;
  }
  return fastconv::ConvKind::forward;
}

inline Role output_role(Direction direction) {
  switch (direction) {
    case Direction::forward: return Role::dst;
    case Direction::backward_weights: return Role::weight;
    case Direction::backward_data:
    case Direction::transposed: return Role::src;
  }
  return Role::dst;
}

// Whether the direction reads the weight (so --packed-weights applies).
inline bool reads_weight(Direction direction) { return direction != Direction::backward_weights; }

// The forward operand an inner operation's gradient reads besides the direction's two inputs
// (fastconv/plan.hpp): the forward's src for bwd_d, its weight for bwd_w; none otherwise.
inline std::optional<Role> forward_operand_role(Direction direction) {
  switch (direction) {
    case Direction::backward_data: return Role::src;
    case Direction::backward_weights: return Role::weight;
    case Direction::forward:
    case Direction::transposed: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace fastconv_bench
