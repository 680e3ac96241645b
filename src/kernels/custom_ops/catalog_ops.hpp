// catalog_ops.hpp — the inner operations fastconv ships precompiled (the catalog of
// fastconv/inner_op.hpp), written as any user's operation is (fastconv/custom.hpp).
#pragma once

#include "fastconv/custom/vector_math.hpp"
#include "fastconv/custom/op_table.hpp"

namespace fastconv::detail::catalog {

namespace vm = fastconv::vmath;

struct MulSum {
  static constexpr const char* name = "mul_sum";
  static constexpr Reduce reduce = Reduce::sum;
  template <class V> static V combine(V x, V w, const V*) { return x * w; }
  template <class V> static V combine_dx(V, V w, const V*) { return w; }
  template <class V> static V combine_dw(V x, V, const V*) { return x; }
};

// The combines below write |w - x| and (w - x)^2: the same values as |x - w| and (x - w)^2, and
// the kernels' broadcast input x can then be the subtraction's memory operand (one load folded).
struct AbsDiffSum {
  static constexpr const char* name = "abs_diff_sum";
  static constexpr Reduce reduce = Reduce::sum;
  template <class V> static V combine(V x, V w, const V*) { return -vm::abs(w - x); }
  template <class V> static V combine_dx(V x, V w, const V*) { return -vm::sign(x - w); }
  template <class V> static V combine_dw(V x, V w, const V*) { return vm::sign(x - w); }
};

// AdderNet's training rule: the full-precision gradient for w, and a clipped one for x.
struct AbsDiffSumAdder {
  static constexpr const char* name = "abs_diff_sum_adder";
  static constexpr Reduce reduce = Reduce::sum;
  template <class V> static V combine(V x, V w, const V*) { return -vm::abs(w - x); }
  template <class V> static V combine_dx(V x, V w, const V*) {
    return vm::clamp(w - x, vm::splat<V>(-1), vm::splat<V>(1));
  }
  template <class V> static V combine_dw(V x, V w, const V*) { return x - w; }
};

struct SqDiffSum {
  static constexpr const char* name = "sq_diff_sum";
  static constexpr Reduce reduce = Reduce::sum;
  template <class V> static V combine(V x, V w, const V*) {
    const V d = w - x;
    return d * d;
  }
  template <class V> static V combine_dx(V x, V w, const V*) { return (x - w) * vm::splat<V>(2); }
  template <class V> static V combine_dw(V x, V w, const V*) { return (w - x) * vm::splat<V>(2); }
};

struct AddMax {
  static constexpr const char* name = "add_max";
  static constexpr Reduce reduce = Reduce::max;
  template <class V> static V combine(V x, V w, const V*) { return x + w; }
  template <class V> static V combine_dx(V, V, const V*) { return vm::splat<V>(1); }
  template <class V> static V combine_dw(V, V, const V*) { return vm::splat<V>(1); }
};

struct SubMin {
  static constexpr const char* name = "sub_min";
  static constexpr Reduce reduce = Reduce::min;
  template <class V> static V combine(V x, V w, const V*) { return x - w; }
  template <class V> static V combine_dx(V, V, const V*) { return vm::splat<V>(1); }
  template <class V> static V combine_dw(V, V, const V*) { return vm::splat<V>(-1); }
};

struct MulMax {
  static constexpr const char* name = "mul_max";
  static constexpr Reduce reduce = Reduce::max;
  template <class V> static V combine(V x, V w, const V*) { return x * w; }
  template <class V> static V combine_dx(V, V w, const V*) { return w; }
  template <class V> static V combine_dw(V x, V, const V*) { return x; }
};

struct MulLogSumExp {
  static constexpr const char* name = "mul_logsumexp";
  static constexpr Reduce reduce = Reduce::logsumexp;
  template <class V> static V combine(V x, V w, const V*) { return x * w; }
  template <class V> static V combine_dx(V, V w, const V*) { return w; }
  template <class V> static V combine_dw(V x, V, const V*) { return x; }
};

}  // namespace fastconv::detail::catalog
