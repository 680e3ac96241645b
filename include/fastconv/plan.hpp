// fastconv/plan.hpp — a convolution problem prepared once and run many times.
//
// A ConvPlan is created from the operands' shapes and dtypes (strides and data pointers given
// at creation are ignored), the parameters and an engine. Creation validates everything that
// can be validated from shapes, picks the engine and computes the workspace size. run() then
// takes views of exactly those shapes (any strides), checks pointers and overlaps, and computes.
// run() is const and may be called from several threads at once on different outputs.
//
// Threads: a plan is prepared for max(get_num_threads(), processors available) threads at
// creation, and its workspace holds that many per-thread slots. Each run reads
// get_num_threads() once and uses at most that many threads, never more than the plan was
// prepared for, so later set_num_threads() calls or CPU-affinity changes never make a run write
// past its workspace. Runs are bitwise identical whatever the thread count. The workspace of
// every engine but `reference` (none) is bounded independently of the image size and batch.
//
// Operands per kind (PyTorch's layouts; g = groups; "spatial" has 1, 2 or 3 axes):
//   forward:          src (N,C,in...), weight (K,C/g,k...), bias (K) optional   -> dst (N,K,out...)
//   transposed:       src (N,C,in...), weight (C,K/g,k...), bias (K) optional   -> dst (N,K,out...)
//   backward_data:    diff_dst (N,K,out...), weight (K,C/g,k...)                -> diff_src (N,C,in...)
//   backward_weights: src (N,C,in...), diff_dst (N,K,out...)
//                                        -> diff_weight (K,C/g,k...), diff_bias (K) optional
// backward_data is the transposed convolution of diff_dst with the same weight; diff_src's
// shape is given explicitly because several input sizes map to one output size.
// Operands a kind does not use must be left empty (rank 0).
//
// Inner operation (fastconv/inner_op.hpp): a plan may compute a custom convolution, e.g.
// InnerOp::catalog("abs_diff_sum"). Its forward takes the operands above. It has no transposed
// form. Its gradients also read the forward's operands: backward_data takes src (the forward
// input x) and bias (optional) besides diff_dst and weight; backward_weights takes weight and
// bias (optional) besides src and diff_dst; diff_bias is then sum of dL/dout * epilogue_db.
// The plain convolution's gradient kinds accept these operands too and do not read them.
//
// Numerics: padding is zeros that take part in the products, so a NaN or Inf weight (or, for
// backward_weights, gradient) reaching padded positions gives NaN there, as IEEE arithmetic on
// a zero-padded input does. An empty batch (N = 0) is valid: forward-type kinds write nothing,
// backward_weights writes zero gradients (the empty sum).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "fastconv/engine.hpp"
#include "fastconv/inner_op.hpp"
#include "fastconv/params.hpp"
#include "fastconv/tensor.hpp"

namespace fastconv {

enum class ConvKind { forward, transposed, backward_data, backward_weights };
const char* conv_kind_name(ConvKind kind);

struct ConvArgs {
  TensorView src{};
  TensorView weight{};
  TensorView bias{};
  TensorView dst{};
  TensorView diff_dst{};
  TensorView diff_src{};
  TensorView diff_weight{};
  TensorView diff_bias{};
};

namespace detail {
class PlanImpl;
}

class ConvPlan {
 public:
  ConvPlan(ConvKind kind, const ConvArgs& shapes, const ConvParams& params,
           Engine engine = Engine::automatic);
  ConvPlan(ConvKind kind, const ConvArgs& shapes, const ConvParams& params, Engine engine,
           const InnerOp& op);
  ~ConvPlan();
  ConvPlan(ConvPlan&&) noexcept;
  ConvPlan& operator=(ConvPlan&&) noexcept;

  ConvKind kind() const;
  Engine engine() const;                  // the engine actually chosen (never automatic)
  std::size_t workspace_bytes() const;    // scratch memory run() needs (see Threads above)
  double flop_count() const;              // 2 * multiply-adds of the direct algorithm
  std::string description() const;        // one line: kind, shapes, params, engine

  // workspace: null (run() allocates it, and throws Error(out_of_memory) if it cannot), or at
  // least workspace_bytes() bytes, 64-byte aligned and not overlapping any operand; a non-null
  // workspace that is not 64-byte aligned, or that overlaps an operand, is refused
  // (fastconv::Error, invalid_argument) before anything is written. The operands must meet
  // tensor.hpp's requirements (alignment, non-overlapping outputs).
  void run(const ConvArgs& args, void* workspace = nullptr) const;

  // Inference set-up for the kinds that read a weight (forward, transposed, backward_data):
  // copies `weight` (the plan's weight shape and dtype, any strides) into the plan and lets the
  // engine rearrange it once into its run-time layout. Later runs may leave args.weight empty
  // to use these weights; a run given args.weight uses that one instead. Not thread-safe
  // against concurrent run() calls; call it before sharing the plan.
  void pack_weights(const TensorView& weight);
  bool has_packed_weights() const;

 private:
  std::unique_ptr<detail::PlanImpl> impl_;
};

}  // namespace fastconv
