// aligned_buffer.hpp — an owning, 64-byte aligned, uninitialised heap buffer.
//
// 64 bytes is the alignment ConvPlan::run() requires of a caller-provided workspace; the
// benchmark's tensors use it too, so results do not depend on where malloc placed them.
// A zero-byte buffer holds a null pointer.
#pragma once

#include <cstddef>
#include <memory>
#include <new>

namespace fastconv_bench {

class AlignedBuffer {
 public:
  static constexpr std::align_val_t kAlignment{64};

  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t bytes)
      : storage_(bytes == 0 ? nullptr : static_cast<std::byte*>(::operator new(bytes, kAlignment))),
        bytes_(bytes) {}

  void* data() const { return storage_.get(); }
  std::size_t bytes() const { return bytes_; }

 private:
  struct AlignedDelete {
    void operator()(std::byte* pointer) const { ::operator delete(pointer, kAlignment); }
  };
  std::unique_ptr<std::byte, AlignedDelete> storage_;
  std::size_t bytes_ = 0;
};

}  // namespace fastconv_bench
