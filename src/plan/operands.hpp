// operands.hpp — run-time checks of the views handed to an operation.
//
// These are the shared operand checks of every operation (the four ConvPlan kinds, pack_weights,
// unfold, fold, windows). They run before anything is read or written, so a refused call leaves
// every output as it was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fastconv/tensor.hpp"

namespace fastconv::detail {

// Throws unless `dtype` is one the library supports.
void check_dtype_supported(const char* operation, const char* argument, DType dtype);

// One operand of an operation: its name, its view and whether the operation writes it.
struct Operand {
  const char* name;
  const TensorView* view;
  bool written;
};

// Checks each present operand (rank != 0), in this order:
//   dtype equal to `dtype`; shape equal to `expected` (same order as `operands`); when it has
//   elements: data non-null, data aligned to dtype_size(dtype), its byte range within 64 bits
//   (ErrorKind::overflow) and within the address space (no wrap below 0 or past the top).
// Then, for written operands: no element addressed twice (exact; see self_overlap.hpp, with its
// work bound), and no byte overlap with any other operand (a conservative byte-range test).
void check_operands(const char* operation, DType dtype, std::span<const Operand> operands,
                    std::span<const std::vector<std::int64_t>> expected);

// A caller's workspace for ConvPlan::run: null (run allocates one), or aligned to 64 bytes and
// with its `bytes` disjoint from every present operand's byte range. Call after check_operands.
void check_workspace(const char* operation, const void* workspace, std::size_t bytes,
                     std::span<const Operand> operands);

}  // namespace fastconv::detail
