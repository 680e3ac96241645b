// conv_engine.hpp — what every convolution engine implements: prepare once, run many times.
//
// An engine is asked to prepare a ConvProblem (direction, geometry, dtype, the threads its
// workspace must serve). It either declines with a reason or returns a PreparedConv: its set-up
// for that problem (chosen kernel, tiling, workspace size) made once per plan, as oneDNN's
// primitive descriptors and XNNPACK's create/reshape do. A PreparedConv is immutable and is run
// from any number of threads at once, each run with its own workspace.
//
// Operands use the FORWARD convolution's roles and the geometry's normalised rank-5 views:
//   src (N, C, D, H, W), weight (K, C/g, KD, KH, KW), dst (N, K, OD, OH, OW).
// Per direction:
//   forward:          reads src, weight, bias (K, optional)  -> writes dst
//   backward_data:    reads dst, weight, bias (C, optional)  -> writes src
//                     (this is also the transposed convolution's forward pass)
//   backward_weights: reads src, dst -> writes weight and bias (K, optional: sum of dst)
// Engines may assume validated operands: matching shapes, no overlap between what is read and
// what is written, non-null data for non-empty tensors, element-aligned pointers, and a
// workspace of workspace_bytes() aligned to 64 bytes.
//
// Inner operation (fastconv/inner_op.hpp): problem.op says what the convolution computes;
// engines that compute only the convolution decline any other op (decline_unless_convolution).
// For an op's gradients the engines also read the forward operands (ConvOperands::forward).
//
// Threads: a run is given `threads`, 1 <= threads <= problem.max_threads; it must never use more
// threads (nor workspace slots) than that, and must stay correct when OpenMP gives its parallel
// regions fewer threads than asked (e.g. a run called from inside another parallel region).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "core/view5.hpp"
#include "fastconv/engine.hpp"
#include "fastconv/inner_op.hpp"
#include "fastconv/tensor.hpp"
#include "plan/conv_geometry.hpp"

namespace fastconv::detail {

enum class Direction { forward, backward_data, backward_weights };

// One convolution to prepare.
struct ConvProblem {
  Direction direction = Direction::forward;
  ConvGeometry geometry;
  DType dtype = DType::float32;
  int max_threads = 1;  // the most threads a run may be given (workspace slots are sized for it)
  const InnerOp* op = nullptr;  // never null (the plan's; plain convolution by default)
  bool convolution() const { return op->is_convolution(); }
};

// Empty for the plain convolution, else why an engine that computes only that declines.
std::string decline_unless_convolution(const ConvProblem& problem);

// Weights a prepared run rearranged once, when a plan was given them (ConvPlan::pack_weights);
// each engine defines its own derived type and layout.
struct PackedWeights {
  virtual ~PackedWeights() = default;
};

// The forward convolution's own operands, which an inner operation's gradients read.
template <typename T>
struct ForwardOperands {
  View5<T> src;
  View5<T> weight;
  Vector1<T> bias;  // null when the forward had none
};

template <typename T>
struct ConvOperands {
  View5<T> src;
  View5<T> weight;
  View5<T> dst;
  Vector1<T> bias;
  // Gradients of an inner operation other than the convolution: backward_data writes src
  // (dL/dx) and reads dst (dL/dout); backward_weights writes weight (dL/dw) and bias (dL/db) and
  // reads dst; both read the forward's x, w and b here. Empty for the plain convolution.
  ForwardOperands<T> forward;
  // Made by the same PreparedConv's pack_weights from exactly `weight`, or null: then the
  // engine packs what it needs while running.
  const PackedWeights* packed_weights = nullptr;
};

// One engine's set-up for one problem.
class PreparedConv {
 public:
  PreparedConv(Engine engine, const ConvProblem& problem) : engine_(engine), problem_(problem) {}
  virtual ~PreparedConv() = default;
  PreparedConv(const PreparedConv&) = delete;
  PreparedConv& operator=(const PreparedConv&) = delete;

  Engine engine() const { return engine_; }
  const ConvProblem& problem() const { return problem_; }
  // Scratch memory a run needs (for problem().max_threads threads); independent of the image
  // size and batch for every engine but the reference (which needs none).
  virtual std::size_t workspace_bytes() const = 0;
  // The microkernel(s) a run uses (FASTCONV_VERBOSE); empty for plain loops.
  virtual std::string kernel_name() const { return {}; }
  // The weights (forward roles: (K, C/g, KD, KH, KW)) in the engine's run-time layout; null when
  // the engine has nothing to prepare for this problem.
  virtual std::unique_ptr<PackedWeights> pack_weights(const View5<float>&) const { return nullptr; }
  virtual std::unique_ptr<PackedWeights> pack_weights(const View5<double>&) const { return nullptr; }
  virtual void run(const ConvOperands<float>& operands, void* workspace, int threads) const = 0;
  virtual void run(const ConvOperands<double>& operands, void* workspace, int threads) const = 0;

 protected:
  const ConvGeometry& geometry() const { return problem_.geometry; }
  Direction direction() const { return problem_.direction; }

 private:
  Engine engine_;
  ConvProblem problem_;
};

// Thrown by a run() for an element type its engine declined at prepare (a library bug).
[[noreturn]] void unreachable_dtype(Engine engine);

// Base for prepared runs written once as a template over the element type: implements both
// run() overloads by Derived::run_typed<T>(operands, workspace, threads), and both
// pack_weights() by Derived::pack_weights_typed<T>(weight) when Derived has one. An engine that
// prepares float32 only says so with Float32Only = true; its float64 entry points then throw.
// Derived names its engine in `static constexpr Engine kEngine`.
template <typename Derived, bool Float32Only = false>
class TypedPreparedConv : public PreparedConv {
 public:
  explicit TypedPreparedConv(const ConvProblem& problem) : PreparedConv(Derived::kEngine, problem) {}
  std::unique_ptr<PackedWeights> pack_weights(const View5<float>& weight) const final {
    return pack(weight);
  }
  std::unique_ptr<PackedWeights> pack_weights(const View5<double>& weight) const final {
    return pack(weight);
  }
  void run(const ConvOperands<float>& operands, void* workspace, int threads) const final {
    derived().run_typed(operands, workspace, threads);
  }
  void run(const ConvOperands<double>& operands, void* workspace, int threads) const final {
    if constexpr (Float32Only) {
      unreachable_dtype(Derived::kEngine);
    } else {
      derived().run_typed(operands, workspace, threads);
    }
  }

 private:
  const Derived& derived() const { return static_cast<const Derived&>(*this); }
  template <typename T>
  std::unique_ptr<PackedWeights> pack(const View5<T>& weight) const {
    if constexpr (Float32Only && !std::is_same_v<T, float>) {
      return nullptr;
    } else if constexpr (requires { derived().pack_weights_typed(weight); }) {
      return derived().pack_weights_typed(weight);
    } else {
      return nullptr;
    }
  }
};

// What prepare() returns: a prepared run, or the reason the engine declines the problem.
struct Preparation {
  std::unique_ptr<PreparedConv> prepared;
  std::string decline_reason;  // non-empty exactly when prepared is null

  static Preparation decline(std::string reason) { return {nullptr, std::move(reason)}; }
  static Preparation take(std::unique_ptr<PreparedConv> prepared) { return {std::move(prepared), {}}; }
};

class ConvEngine {
 public:
  virtual ~ConvEngine() = default;
  virtual Engine id() const = 0;
  virtual Preparation prepare(const ConvProblem& problem) const = 0;
};

// The engine behind an id (not Engine::automatic).
const ConvEngine& engine_instance(Engine id);
// Engine::automatic's choice for a problem, prepared, with the reasons the others were passed
// over appended to *why.
Preparation choose_and_prepare(const ConvProblem& problem, std::string* why);

}  // namespace fastconv::detail
