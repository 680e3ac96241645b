// epilogue.hpp — what the fast kernels do with a finished accumulator, and the inner operation
// they reduce with. Both are template parameters of the microkernels, so a new epilogue or a
// user-defined combine operation costs nothing where it is not used.
//
// Epilogue (applied once per output value, when the tile is stored):
//   value = activation(acc + bias[channel] (if bias) + residual (if accumulate into dst))
// Activations: none, relu (x < 0 ? 0 : x, so NaN stays NaN, as in PyTorch), clamp
// (min(max(x, lo), hi)). The convolution's public operations use `none`; inner operations'
// relu epilogue (fastconv/inner_op.hpp) stores through `relu`.
//
// Combine operation: acc = Combine::apply(acc, input, weight), reduced over the kernel window
// and input channels. MultiplyAdd is the convolution; with -ffp-contract=fast it compiles to
// one FMA per vector. Any functor with the same static `apply` over GCC vector types works.
#pragma once

#include <algorithm>
#include <cstdint>

namespace fastconv::detail {

enum class Activation { none, relu, clamp };

template <typename T>
struct EpilogueParams {
  const T* bias = nullptr;           // per output channel, contiguous after the engine's copy
  bool accumulate = false;           // add to what dst holds (residual add / channel chunks)
  Activation activation = Activation::none;
  T clamp_min = T(0);
  T clamp_max = T(0);
};

struct MultiplyAdd {
  template <typename V>
  static V apply(V acc, V input, V weight) {
    return acc + input * weight;
  }
};

// The activation on one vector (any GCC vector type or scalar T). Branches on a runtime value
// that is the same for a whole tile, so they predict perfectly.
template <typename V, typename T>
inline V apply_activation(V value, const EpilogueParams<T>& epilogue) {
  switch (epilogue.activation) {
    case Activation::none: return value;
    case Activation::relu: {
      const V zero = V{} * T(0);
      return value < zero ? zero : value;
    }
    case Activation::clamp: {
      const V lo = V{} + epilogue.clamp_min;
      const V hi = V{} + epilogue.clamp_max;
      const V low_clamped = value < lo ? lo : value;
      return low_clamped > hi ? hi : low_clamped;
    }
  }
  return value;
}

// Scalar version for edge loops.
template <typename T>
inline T apply_activation_scalar(T value, const EpilogueParams<T>& epilogue) {
  switch (epilogue.activation) {
    case Activation::none: return value;
    case Activation::relu: return value < T(0) ? T(0) : value;
    case Activation::clamp: return std::min(std::max(value, epilogue.clamp_min), epilogue.clamp_max);
  }
  return value;
}

}  // namespace fastconv::detail
