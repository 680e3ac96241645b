// fastconv/error.hpp — the one error mechanism of the library.
//
// Every invalid call throws fastconv::Error before any output is written. The message names
// the operation, the argument and the offending values, e.g.
//   "conv_forward: weight.shape[1] = 4, but src has 6 channels and groups = 2 (expected 3)".
#pragma once

#include <stdexcept>
#include <string>

namespace fastconv {

enum class ErrorKind {
  invalid_argument,   // a shape, parameter or view that does not fit the operation
  unsupported_dtype,  // a dtype the operation does not support, or mixed dtypes
  overflow,           // an element count, byte size or index that does not fit 64 bits
  engine_declined,    // a valid problem that the explicitly requested engine does not take
  out_of_memory,      // the memory a run or plan needs (workspace, packed weights) could not be had
};

// "invalid_argument", "unsupported_dtype", "overflow", "engine_declined" or "out_of_memory".
inline const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument: return "invalid_argument";
    case ErrorKind::unsupported_dtype: return "unsupported_dtype";
    case ErrorKind::overflow: return "overflow";
    case ErrorKind::engine_declined: return "engine_declined";
    case ErrorKind::out_of_memory: return "out_of_memory";
  }
  return "unknown";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace fastconv
