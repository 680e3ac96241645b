// checked_math.hpp — 64-bit arithmetic that throws fastconv::Error on overflow.
//
// Use these wherever sizes, strides, offsets or paddings from the caller are combined: signed
// overflow is undefined behaviour, and a wrapped size would pass every later check. `what` names
// the quantity (and the operation) in the message, e.g.
//   "conv_forward: padded size[1]: 9223372036854775807 + 1 overflows 64-bit integers".
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "fastconv/error.hpp"

namespace fastconv::detail {

[[noreturn]] inline void throw_overflow(const std::string& what, std::int64_t a, const char* op,
                                        std::int64_t b) {
  throw Error(ErrorKind::overflow, what + ": " + std::to_string(a) + " " + op + " " +
                                       std::to_string(b) + " overflows 64-bit integers");
}

inline std::int64_t checked_mul(std::int64_t a, std::int64_t b, const std::string& what) {
  std::int64_t result;
  if (__builtin_mul_overflow(a, b, &result)) throw_overflow(what, a, "*", b);
  return result;
}

inline std::int64_t checked_add(std::int64_t a, std::int64_t b, const std::string& what) {
  std::int64_t result;
  if (__builtin_add_overflow(a, b, &result)) throw_overflow(what, a, "+", b);
  return result;
}

inline std::int64_t checked_sub(std::int64_t a, std::int64_t b, const std::string& what) {
  std::int64_t result;
  if (__builtin_sub_overflow(a, b, &result)) throw_overflow(what, a, "-", b);
  return result;
}

// Product of `values`, each taken as max(value, 1): the largest partial product any loop over
// these extents computes, also when some extent is 0 (an empty tensor still has its other
// extents multiplied together, e.g. pixels per image with an empty batch).
inline std::int64_t checked_extent_product(std::span<const std::int64_t> values,
                                           const std::string& what) {
  std::int64_t product = 1;
  for (std::int64_t value : values) product = checked_mul(product, value > 1 ? value : 1, what);
  return product;
}

}  // namespace fastconv::detail
