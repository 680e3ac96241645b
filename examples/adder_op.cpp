// adder_op.cpp — an AdderNet layer's inner operation, written by a user of the installed
// library (fastconv/custom.hpp) and compiled once per ISA by fastconv_add_custom_ops
// (CMakeLists.txt): y = -sum |x - w|, trained with AdderNet's rule for the gradients,
// dL/dx = clamp(w - x, -1, 1) and dL/dw = x - w (the full-precision gradient).
#include <fastconv/custom.hpp>

namespace {

namespace vm = fastconv::vmath;

struct Adder {
  static constexpr const char* name = "adder";
  static constexpr fastconv::Reduce reduce = fastconv::Reduce::sum;
  template <class V> static V combine(V x, V w, const V*) { return -vm::abs(w - x); }
  template <class V> static V combine_dx(V x, V w, const V*) {
    return vm::clamp(w - x, vm::splat<V>(-1), vm::splat<V>(1));
  }
  template <class V> static V combine_dw(V x, V w, const V*) { return x - w; }
};

}  // namespace

FASTCONV_CUSTOM_OP(adder_op, Adder)
