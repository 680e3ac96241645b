// scaled_square_op.cpp — a user's inner operation with parameters and an epilogue of its own,
// compiled once per ISA by fastconv_add_custom_ops (tests/CMakeLists.txt), as an application
// would: y = sum of p0 (w - x)^2, out = exp(-p1 y) + b.
#include "fastconv/custom.hpp"

namespace {

namespace vm = fastconv::vmath;

struct ScaledSquare {
  static constexpr const char* name = "scaled_square";
  static constexpr fastconv::Reduce reduce = fastconv::Reduce::sum;
  static constexpr int params = 2;
  template <class V> static V combine(V x, V w, const V* p) {
    const V d = w - x;
    return p[0] * d * d;
  }
  template <class V> static V combine_dx(V x, V w, const V* p) { return p[0] * vm::splat<V>(2) * (x - w); }
  template <class V> static V combine_dw(V x, V w, const V* p) { return p[0] * vm::splat<V>(2) * (w - x); }
  template <class V> static V epilogue(V y, V b, const V* p) { return vm::exp(-p[1] * y) + b; }
  template <class V> static V epilogue_dy(V y, V, const V* p) { return -p[1] * vm::exp(-p[1] * y); }
  template <class V> static V epilogue_db(V, V, const V*) { return vm::splat<V>(1); }
};

// A max-reduce operation without derivatives (forward only).
struct ShiftedMax {
  static constexpr const char* name = "shifted_max";
  static constexpr fastconv::Reduce reduce = fastconv::Reduce::max;
  template <class V> static V combine(V x, V w, const V*) { return x + w * w; }
};

}  // namespace

FASTCONV_CUSTOM_OP(scaled_square_op, ScaledSquare)
FASTCONV_CUSTOM_OP(shifted_max_op, ShiftedMax)
// The accessor form of shared libraries loaded at run time (the Python package's compiled
// expressions): extern "C" const fastconv::custom::OpTable* scaled_square_exported().
FASTCONV_CUSTOM_OP_EXPORT(scaled_square_exported, ScaledSquare)
