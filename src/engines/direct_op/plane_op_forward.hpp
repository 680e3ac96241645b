// plane_op_forward.hpp — inner operations (fastconv/inner_op.hpp) forward, direct: the path of the
// depthwise and few_channels engines for ops other than the convolution.
//
// For stride 1 along H and W and a kernel one deep (1-D, 2-D, or 3-D with KD = 1), every tap
// (c, kh, kw) of output pixel (oh, ow) reads one padded plane at a constant offset from
// oh * padded_w + ow. So per work item (image, group, output depth, band of output rows) the
// band's input rows of the group's C/g channels are copied once into a padded plane (pad value
// around them), and the op's pixel-lane kernel (cols_reduce with row offsets) reduces every
// output channel of the group over shifted views of it, a block of filters at a time, computing
// padded_w - OW columns per row that are dropped. No unfold: one copy per input value, where
// the im2col path copies each value once per tap.
//
// Workspace: the weights as a contiguous K x (C/g * KH * KW) matrix, and per thread a slot of
// the band's plane and one filter block's outputs, within the budget (bands get fewer rows);
// independent of the image height and batch. Problems whose one-row band does not fit, or with
// other strides or a deeper kernel, are not taken (plane_op_setup says why).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engines/conv_engine.hpp"
#include "engines/inner_op_kernels.hpp"

namespace fastconv::detail {

struct PlaneOpSetup {
  std::string decline_reason;  // empty when the path takes the problem
  std::int64_t cg = 0, kg = 0, taps = 0;  // C/g, K/g, KH * KW
  std::int64_t padded_w = 0, band = 0, band_rows_in = 0, bands = 0, filter_block = 0;
  std::int64_t channel_floats = 0, out_stride = 0;  // per channel of the plane; per output row of a block
  std::vector<std::int64_t> offsets;  // per r = c * taps + kh * KW + kw: its offset into the plane
  std::size_t weights_bytes = 0, slot_bytes = 0;
  std::size_t workspace_bytes(int threads) const { return weights_bytes + slot_bytes * std::size_t(threads); }
};

PlaneOpSetup plane_op_setup(const ConvGeometry& geometry, std::int64_t slot_budget_bytes);

void plane_op_forward(const ConvGeometry& geometry, const PlaneOpSetup& setup, const InnerOp& op,
                      const ConvOperands<float>& operands, void* workspace, int threads);

}  // namespace fastconv::detail

namespace fastconv::detail {

// The prepared path for engine E (depthwise or few_channels), forward float32 only.
inline constexpr std::int64_t kPlaneOpSlotBudgetBytes = 1 << 20;  // per thread

template <Engine E>
class PreparedPlaneOp final : public TypedPreparedConv<PreparedPlaneOp<E>, true> {
 public:
  static constexpr Engine kEngine = E;
  PreparedPlaneOp(const ConvProblem& problem, PlaneOpSetup setup)
      : TypedPreparedConv<PreparedPlaneOp<E>, true>(problem), setup_(std::move(setup)) {}
  std::size_t workspace_bytes() const override { return setup_.workspace_bytes(this->problem().max_threads); }
  std::string kernel_name() const override {
    return std::string(this->problem().op->table().name) + " pixel lanes over padded planes";
  }
  void run_typed(const ConvOperands<float>& operands, void* workspace, int threads) const {
    plane_op_forward(this->geometry(), setup_, *this->problem().op, operands, workspace, threads);
  }

 private:
  PlaneOpSetup setup_;
};

// The preparation of an inner operation's forward by engine E: declined (with the reason) unless
// it is forward float32, the op has kernels for this CPU and the path takes the geometry.
template <Engine E>
Preparation prepare_plane_op(const ConvProblem& problem) {
  if (problem.direction != Direction::forward) return Preparation::decline("inner operations: forward only");
  if (problem.dtype != DType::float32) return Preparation::decline("inner operations: float32 only");
  if (std::string missing = op_kernels_missing(*problem.op); !missing.empty()) return Preparation::decline(missing);
  PlaneOpSetup setup = plane_op_setup(problem.geometry, kPlaneOpSlotBudgetBytes);
  if (!setup.decline_reason.empty()) return Preparation::decline(setup.decline_reason);
  return Preparation::take(std::make_unique<PreparedPlaneOp<E>>(problem, std::move(setup)));
}

}  // namespace fastconv::detail
