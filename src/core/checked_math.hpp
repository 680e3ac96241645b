// checked_math.hpp — 64-bit arithmetic that throws fastconv::Error on overflow.
#pragma once

#include <cstdint>
#include <string>

#include "fastconv/error.hpp"

namespace fastconv::detail {

inline std::int64_t checked_mul(std::int64_t a, std::int64_t b, const std::string& what) {
  std::int64_t result;
  if (__builtin_mul_overflow(a, b, &result)) {
    throw Error(ErrorKind::overflow, what + ": " + std::to_string(a) + " * " + std::to_string(b) +
                                         " overflows 64-bit integers");
  }
  return result;
}

inline std::int64_t checked_add(std::int64_t a, std::int64_t b, const std::string& what) {
  std::int64_t result;
  if (__builtin_add_overflow(a, b, &result)) {
    throw Error(ErrorKind::overflow, what + ": " + std::to_string(a) + " + " + std::to_string(b) +
                                         " overflows 64-bit integers");
  }
  return result;
}

}  // namespace fastconv::detail
