// aligned_buffer.hpp — 64-byte aligned scratch memory whose allocation failure is a
// fastconv::Error (ErrorKind::out_of_memory) naming what it was for, never std::bad_alloc.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <string>

#include "fastconv/error.hpp"

namespace fastconv::detail {

// Bytes rounded up to a whole number of 64-byte cache lines.
constexpr std::size_t align64(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

[[noreturn]] inline void throw_out_of_memory(const std::string& what, std::size_t bytes) {
  throw Error(ErrorKind::out_of_memory, what + ": could not allocate " + std::to_string(bytes) +
                                            " bytes (" + std::to_string(bytes >> 20) + " MiB)");
}

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // `what` names the operation and the buffer in the error, e.g. "conv_forward: workspace".
  AlignedBuffer(std::size_t bytes, const std::string& what) {
    if (bytes == 0) return;
    void* memory = ::operator new[](bytes, std::align_val_t(64), std::nothrow);
    if (memory == nullptr) throw_out_of_memory(what, bytes);
    memory_.reset(static_cast<std::byte*>(memory));
  }
  std::byte* data() const { return memory_.get(); }

 private:
  struct Free {
    void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t(64)); }
  };
  std::unique_ptr<std::byte[], Free> memory_;
};

// Runs `allocate()` (which may allocate with new or std::vector), turning std::bad_alloc into
// an out_of_memory Error about `what`.
template <typename Function>
auto allocating(const std::string& what, Function&& allocate) -> decltype(allocate()) {
  try {
    return allocate();
  } catch (const std::bad_alloc&) {
    throw Error(ErrorKind::out_of_memory, what + ": out of memory");
  }
}

}  // namespace fastconv::detail
