// operands.hpp — run-time checks of the views handed to an operation.
#pragma once

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

// Checks each present operand (rank != 0): dtype equal to `dtype`, shape equal to `expected`
// (same order as `operands`), data non-null when non-empty, byte range within 64 bits. Then
// checks that no written operand overlaps itself or any other operand.
void check_operands(const char* operation, DType dtype, std::span<const Operand> operands,
                    std::span<const std::vector<std::int64_t>> expected);

}  // namespace fastconv::detail
