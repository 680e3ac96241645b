// fastconv/custom.hpp — writing your own inner operation in C++.
//
// An operation is a struct of static functions templated on V, which is a SIMD vector of float
// lanes (the library's kernels) or a double (its reference and scalar steps). `p` points to the
// operation's parameters, each broadcast to V (p[0] .. p[params - 1]). Write them with +, -, *,
// /, comparisons and fastconv::vmath (abs, min, max, select, exp, log, ...):
//
//   struct AdderOp {
//     static constexpr const char* name = "adder";
//     static constexpr fastconv::Reduce reduce = fastconv::Reduce::sum;  // sum, max, min, logsumexp
//     static constexpr int params = 0;                                    // optional (default 0)
//     template <class V> static V combine(V x, V w, const V* p) { return -fastconv::vmath::abs(x - w); }
//     // optional, for gradients (surrogates welcome: AdderNet trains with these two):
//     template <class V> static V combine_dx(V x, V w, const V* p) { return fastconv::vmath::clamp(w - x, V(-1), V(1)); }
//     template <class V> static V combine_dw(V x, V w, const V* p) { return x - w; }
//     // optional: an epilogue out = epilogue(y, b) replacing the InnerOp's (default y + b), with
//     // epilogue_dy and epilogue_db for gradients.
//     // optional: static constexpr int max_tile_pixels = 8; caps the pixels of the forward
//     // channel tiles (fewer, smaller kernels to compile; for a combine dominated by its own
//     // arithmetic, such as exp or tanh, small tiles cost little speed).
//   };
//   FASTCONV_CUSTOM_OP(adder_op, AdderOp)   // in a source file given to fastconv_add_custom_ops
//
// and elsewhere `FASTCONV_DECLARE_CUSTOM_OP(adder_op);` then `fastconv::InnerOp op = adder_op();`
// The source file is compiled once per ISA by the CMake function that fastconv's package config
// provides:
//
//   find_package(fastconv REQUIRED)
//   fastconv_add_custom_ops(my_app ops/adder.cpp)
//
// which adds it to `my_app` three times, with FASTCONV_CUSTOM_ISA = 0, 1, 2 and the portable,
// AVX2 + FMA and AVX-512F flags. The library then runs the operation in its engines like its own
// catalog (fastconv/inner_op.hpp), choosing the unit of the CPU's ISA at run time.
#pragma once

#include "fastconv/custom/op_kernels.hpp"
#include "fastconv/custom/op_table.hpp"
#include "fastconv/custom/vector_math.hpp"
#include "fastconv/inner_op.hpp"

#if !defined(FASTCONV_CUSTOM_ISA)
#error "fastconv/custom.hpp: compile this file through fastconv_add_custom_ops (FASTCONV_CUSTOM_ISA is not set)"
#endif

namespace fastconv::custom {

// The ISA of this translation unit: its vector type and channel-tile shape.
// Channel tiles: kUnitOcv vectors of channels for up to kUnitPmax pixels, and one vector for up
// to kUnitPmax1 (the accumulators and the weight and input vectors fit the register file).
#if FASTCONV_CUSTOM_ISA == 2
typedef float unit_vector __attribute__((vector_size(64)));
inline constexpr int kUnitOcv = 2, kUnitPmax = 14, kUnitPmax1 = 28;  // of 32 registers
#elif FASTCONV_CUSTOM_ISA == 1
typedef float unit_vector __attribute__((vector_size(32)));
inline constexpr int kUnitOcv = 2, kUnitPmax = 6, kUnitPmax1 = 12;  // of 16
#else
typedef float unit_vector __attribute__((vector_size(16)));
inline constexpr int kUnitOcv = 2, kUnitPmax = 6, kUnitPmax1 = 12;
#endif

}  // namespace fastconv::custom

#define FASTCONV_CUSTOM_CAT2(a, b) a##b
#define FASTCONV_CUSTOM_CAT(a, b) FASTCONV_CUSTOM_CAT2(a, b)
#define FASTCONV_CUSTOM_ISA_SYMBOL(symbol, isa) FASTCONV_CUSTOM_CAT(symbol##_fastconv_isa, isa)

#if FASTCONV_CUSTOM_ISA == 0
// The portable unit also defines the table (with the scalar forms) and the accessor, which
// refers to the AVX2 and AVX-512 units' kernels.
#define FASTCONV_CUSTOM_OP(symbol, ...)                                                                 \
  extern const ::fastconv::custom::OpIsaKernels FASTCONV_CUSTOM_ISA_SYMBOL(symbol, 0);                  \
  const ::fastconv::custom::OpIsaKernels FASTCONV_CUSTOM_ISA_SYMBOL(symbol, 0) =                         \
      ::fastconv::custom::kernels::isa_kernels<__VA_ARGS__, ::fastconv::custom::unit_vector, 0,          \
                                               ::fastconv::custom::kUnitOcv, ::fastconv::custom::kUnitPmax, \
                                               ::fastconv::custom::kUnitPmax1>();                         \
  extern const ::fastconv::custom::OpIsaKernels FASTCONV_CUSTOM_ISA_SYMBOL(symbol, 1);                  \
  extern const ::fastconv::custom::OpIsaKernels FASTCONV_CUSTOM_ISA_SYMBOL(symbol, 2);                  \
  ::fastconv::InnerOp symbol() {                                                                        \
    static const ::fastconv::custom::OpTable table = ::fastconv::custom::kernels::op_table<__VA_ARGS__>( \
        &FASTCONV_CUSTOM_ISA_SYMBOL(symbol, 0), &FASTCONV_CUSTOM_ISA_SYMBOL(symbol, 1),                  \
        &FASTCONV_CUSTOM_ISA_SYMBOL(symbol, 2));                                                        \
    return ::fastconv::InnerOp(table);                                                                 \
  }
// FASTCONV_CUSTOM_OP_EXPORT(symbol, Op): the same units, but the accessor is
//   extern "C" const fastconv::custom::OpTable* symbol();
// exported from a shared library that refers to no symbol of fastconv's own, for a program that
// already links fastconv and loads operations at run time (dlopen): the Python package compiles
// its expressions this way and wraps the table in an InnerOp (InnerOp(const OpTable&)). The
// AVX2 and AVX-512 units are optional here (weak references): a table without one has a null
// entry for it, and the library runs the best unit linked that the CPU allows. With
// FASTCONV_CUSTOM_PORTABLE_KERNELS defined as 0, the portable unit holds the table and the scalar
// forms only (its kernels null: for a loader that links the vector unit this CPU runs; the
// engines fall back to the reference engine where no unit is usable).
#if !defined(FASTCONV_CUSTOM_PORTABLE_KERNELS) || FASTCONV_CUSTOM_PORTABLE_KERNELS
#define FASTCONV_CUSTOM_EXPORT_PORTABLE(symbol, ...)                                                    \
  extern const ::fastconv::custom::OpIsaKernels FASTCONV_CUSTOM_ISA_SYMBOL(symbol, 0);                  \
  const ::fastconv::custom::OpIsaKernels FASTCONV_CUSTOM_ISA_SYMBOL(symbol, 0) =                         \
      ::fastconv::custom::kernels::isa_kernels<__VA_ARGS__, ::fastconv::custom::unit_vector, 0,          \
                                               ::fastconv::custom::kUnitOcv, ::fastconv::custom::kUnitPmax, \
                                               ::fastconv::custom::kUnitPmax1>();
#define FASTCONV_CUSTOM_EXPORT_PORTABLE_ENTRY(symbol) &FASTCONV_CUSTOM_ISA_SYMBOL(symbol, 0)
#else
#define FASTCONV_CUSTOM_EXPORT_PORTABLE(symbol, ...)
#define FASTCONV_CUSTOM_EXPORT_PORTABLE_ENTRY(symbol) nullptr
#endif
#define FASTCONV_CUSTOM_OP_EXPORT(symbol, ...)                                                          \
  FASTCONV_CUSTOM_EXPORT_PORTABLE(symbol, __VA_ARGS__)                                                  \
  extern const ::fastconv::custom::OpIsaKernels FASTCONV_CUSTOM_ISA_SYMBOL(symbol, 1) __attribute__((weak)); \
  extern const ::fastconv::custom::OpIsaKernels FASTCONV_CUSTOM_ISA_SYMBOL(symbol, 2) __attribute__((weak)); \
  extern "C" __attribute__((visibility("default"))) const ::fastconv::custom::OpTable* symbol() {       \
    static const ::fastconv::custom::OpTable table = ::fastconv::custom::kernels::op_table<__VA_ARGS__>( \
        FASTCONV_CUSTOM_EXPORT_PORTABLE_ENTRY(symbol), &FASTCONV_CUSTOM_ISA_SYMBOL(symbol, 1),           \
        &FASTCONV_CUSTOM_ISA_SYMBOL(symbol, 2));                                                        \
    return &table;                                                                                     \
  }
#else
#define FASTCONV_CUSTOM_OP(symbol, ...)                                                                 \
  extern const ::fastconv::custom::OpIsaKernels FASTCONV_CUSTOM_ISA_SYMBOL(symbol, FASTCONV_CUSTOM_ISA); \
  const ::fastconv::custom::OpIsaKernels FASTCONV_CUSTOM_ISA_SYMBOL(symbol, FASTCONV_CUSTOM_ISA) =       \
      ::fastconv::custom::kernels::isa_kernels<__VA_ARGS__, ::fastconv::custom::unit_vector,             \
                                               FASTCONV_CUSTOM_ISA, ::fastconv::custom::kUnitOcv,        \
                                               ::fastconv::custom::kUnitPmax, ::fastconv::custom::kUnitPmax1>();
#define FASTCONV_CUSTOM_OP_EXPORT(symbol, ...) FASTCONV_CUSTOM_OP(symbol, __VA_ARGS__)
#endif
