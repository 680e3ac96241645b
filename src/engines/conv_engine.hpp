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
#include <string>

#include "core/view5.hpp"
#include "fastconv/engine.hpp"
#include "fastconv/tensor.hpp"
#include "plan/conv_geometry.hpp"

namespace fastconv::detail {

enum class Direction { forward, backward_data, backward_weights };

template <typename T>
struct ConvOperands {
  View5<T> src;
  View5<T> weight;
  View5<T> dst;
  Vector1<T> bias;
};

class ConvEngine {
 public:
  virtual ~ConvEngine() = default;
  virtual Engine id() const = 0;
  // Empty when the engine takes the problem; otherwise the reason it declines.
  virtual std::string decline_reason(Direction, const ConvGeometry&, DType) const { return {}; }
  virtual std::size_t workspace_bytes(Direction direction, const ConvGeometry& geometry,
                                      DType dtype) const = 0;
  virtual void run(Direction direction, const ConvGeometry& geometry,
                   const ConvOperands<float>& operands, void* workspace) const = 0;
  virtual void run(Direction direction, const ConvGeometry& geometry,
                   const ConvOperands<double>& operands, void* workspace) const = 0;
};

// Base for engines written once as a template over the element type: implements both run()
// overloads by calling Derived::run_typed<T>(direction, geometry, operands, workspace).
template <typename Derived>
class TypedConvEngine : public ConvEngine {
 public:
  void run(Direction direction, const ConvGeometry& geometry, const ConvOperands<float>& operands,
           void* workspace) const final {
    static_cast<const Derived&>(*this).run_typed(direction, geometry, operands, workspace);
  }
  void run(Direction direction, const ConvGeometry& geometry, const ConvOperands<double>& operands,
           void* workspace) const final {
    static_cast<const Derived&>(*this).run_typed(direction, geometry, operands, workspace);
  }
};

// The engine behind an id (not Engine::automatic).
const ConvEngine& engine_instance(Engine id);
// Engine::automatic's choice for a problem, with the reasons the others were passed over.
Engine choose_engine(Direction direction, const ConvGeometry& geometry, DType dtype,
                     std::string* why);

}  // namespace fastconv::detail
