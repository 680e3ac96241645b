// conv_engine.hpp — what every convolution engine implements.
//
// Operands use the FORWARD convolution's roles and the geometry's normalised rank-5 views:
//   src (N, C, D, H, W), weight (K, C/g, KD, KH, KW), dst (N, K, OD, OH, OW).
// Per direction:
//   forward:          reads src, weight, bias (K, optional)  -> writes dst
//   backward_data:    reads dst, weight, bias (C, optional)  -> writes src
//                     (this is also the transposed convolution's forward pass)
//   backward_weights: reads src, dst -> writes weight and bias (K, optional: sum of dst)
// Engines may assume validated operands: matching shapes, no overlap between what is read and
// what is written, non-null data for non-empty tensors.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/view5.hpp"
#include "fastconv/engine.hpp"
#include "fastconv/tensor.hpp"
#include "plan/conv_geometry.hpp"

namespace fastconv::detail {

enum class Direction { forward, backward_data, backward_weights };

// Weights an engine rearranged once, when a plan was given them (ConvPlan::pack_weights);
// each engine defines its own derived type and layout.
struct PackedWeights {
  virtual ~PackedWeights() = default;
};

template <typename T>
struct ConvOperands {
  View5<T> src;
  View5<T> weight;
  View5<T> dst;
  Vector1<T> bias;
  // The engine's own packing of exactly `weight` (made by this engine's pack_weights for this
  // geometry and direction), or null: then the engine packs what it needs while running.
  const PackedWeights* packed_weights = nullptr;
};

class ConvEngine {
 public:
  virtual ~ConvEngine() = default;
  virtual Engine id() const = 0;
  // Empty when the engine takes the problem; otherwise the reason it declines.
  virtual std::string decline_reason(Direction, const ConvGeometry&, DType) const { return {}; }
  virtual std::size_t workspace_bytes(Direction direction, const ConvGeometry& geometry,
                                      DType dtype) const = 0;
  // The microkernel(s) a run would use on this CPU (for FASTCONV_VERBOSE); empty when the
  // engine has none (plain loops).
  virtual std::string kernel_name(Direction, const ConvGeometry&, DType) const { return {}; }
  virtual void run(Direction direction, const ConvGeometry& geometry,
                   const ConvOperands<float>& operands, void* workspace) const = 0;
  virtual void run(Direction direction, const ConvGeometry& geometry,
                   const ConvOperands<double>& operands, void* workspace) const = 0;
  // The weights (forward roles: (K, C/g, KD, KH, KW)) in the engine's run-time layout, made once
  // per plan; null when the engine has nothing to prepare for this problem.
  virtual std::unique_ptr<PackedWeights> pack_weights(Direction, const ConvGeometry&,
                                                      const View5<float>&) const {
    return nullptr;
  }
  virtual std::unique_ptr<PackedWeights> pack_weights(Direction, const ConvGeometry&,
                                                      const View5<double>&) const {
    return nullptr;
  }
};

// Base for engines written once as a template over the element type: implements both run()
// overloads by calling Derived::run_typed<T>(direction, geometry, operands, workspace), and both
// pack_weights() overloads by Derived::pack_weights_typed<T>(...) when Derived has one.
template <typename Derived>
class TypedConvEngine : public ConvEngine {
 public:
  std::unique_ptr<PackedWeights> pack_weights(Direction direction, const ConvGeometry& geometry,
                                              const View5<float>& weight) const final {
    return pack(direction, geometry, weight);
  }
  std::unique_ptr<PackedWeights> pack_weights(Direction direction, const ConvGeometry& geometry,
                                              const View5<double>& weight) const final {
    return pack(direction, geometry, weight);
  }
  void run(Direction direction, const ConvGeometry& geometry, const ConvOperands<float>& operands,
           void* workspace) const final {
    static_cast<const Derived&>(*this).run_typed(direction, geometry, operands, workspace);
  }
  void run(Direction direction, const ConvGeometry& geometry, const ConvOperands<double>& operands,
           void* workspace) const final {
    static_cast<const Derived&>(*this).run_typed(direction, geometry, operands, workspace);
  }

 private:
  template <typename T>
  std::unique_ptr<PackedWeights> pack(Direction direction, const ConvGeometry& geometry,
                                      const View5<T>& weight) const {
    const auto& derived = static_cast<const Derived&>(*this);
    if constexpr (requires { derived.pack_weights_typed(direction, geometry, weight); }) {
      return derived.pack_weights_typed(direction, geometry, weight);
    } else {
      return nullptr;
    }
  }
};

// The engine behind an id (not Engine::automatic).
const ConvEngine& engine_instance(Engine id);
// Engine::automatic's choice for a problem, with the reasons the others were passed over.
Engine choose_engine(Direction direction, const ConvGeometry& geometry, DType dtype,
                     std::string* why);

}  // namespace fastconv::detail
