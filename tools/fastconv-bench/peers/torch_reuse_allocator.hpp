// torch_reuse_allocator.hpp — for --alloc none: PyTorch's convolutions have no out= form, so the
// torch peers cannot be handed their output's memory. Instead, while a ScopedReuseAllocator is
// alive, PyTorch's CPU allocator is a ReuseAllocator: a block freed by a tensor is kept and
// handed out again for the next request of the same size, so from the second call on neither
// the output nor torch's temporaries cost an allocation (the memory is already mapped and
// touched), just as fastconv's and oneDNN's outputs and workspaces, allocated before timing,
// cost none.
//
// Blocks are 64-byte aligned (as c10's default CPU allocator). The allocator is thread-safe
// (intra-op threads may allocate). A block that outlives the allocator is freed when its tensor
// releases it. Used by peers/torch_peer.cpp and peers/torch_unfold_peer.cpp only.
#pragma once

#include <c10/core/Allocator.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>

namespace fastconv_bench {

class ReuseAllocator final : public c10::Allocator {
 public:
  ReuseAllocator() : pool_(std::make_shared<Pool>()) {}
  ~ReuseAllocator() override {
    const std::lock_guard<std::mutex> lock(pool_->mutex);
    pool_->open = false;
    for (auto& [bytes, data] : pool_->free) ::operator delete(data, kAlignment);
    pool_->free.clear();
  }
  ReuseAllocator(const ReuseAllocator&) = delete;
  ReuseAllocator& operator=(const ReuseAllocator&) = delete;

  c10::DataPtr allocate(std::size_t bytes) const override {
    const c10::Device cpu(c10::DeviceType::CPU);
    if (bytes == 0) return {nullptr, cpu};
    void* data = nullptr;
    {
      const std::lock_guard<std::mutex> lock(pool_->mutex);
      const auto cached = pool_->free.find(bytes);
      if (cached != pool_->free.end()) {
        data = cached->second;
        pool_->free.erase(cached);
      }
    }
    if (data == nullptr) data = ::operator new(bytes, kAlignment);
    return {data, new Block{pool_, data, bytes}, &release, cpu};
  }

 private:
  static constexpr std::align_val_t kAlignment{64};
  struct Pool {
    std::mutex mutex;
    std::multimap<std::size_t, void*> free;  // bytes -> block
    bool open = true;                        // false once the allocator is gone
  };
  struct Block {
    std::shared_ptr<Pool> pool;
    void* data;
    std::size_t bytes;
  };
  static void release(void* context) {
    const std::unique_ptr<Block> block(static_cast<Block*>(context));
    {
      const std::lock_guard<std::mutex> lock(block->pool->mutex);
      if (block->pool->open) {
        block->pool->free.emplace(block->bytes, block->data);
        return;
      }
    }
    ::operator delete(block->data, kAlignment);
  }

  std::shared_ptr<Pool> pool_;
};

// Makes `allocator` PyTorch's CPU allocator for the scope (when not null), then restores the
// previous one.
class ScopedReuseAllocator {
 public:
  explicit ScopedReuseAllocator(ReuseAllocator* allocator)
      : previous_(allocator ? c10::GetAllocator(c10::DeviceType::CPU) : nullptr) {
    if (!allocator) return;
    c10::SetAllocator(c10::DeviceType::CPU, allocator, kPriority);
    if (c10::GetAllocator(c10::DeviceType::CPU) != allocator) {
      throw std::runtime_error("--alloc none: could not install the torch peers' CPU allocator");
    }
  }
  ~ScopedReuseAllocator() {
    if (previous_) c10::SetAllocator(c10::DeviceType::CPU, previous_, kPriority);
  }
  ScopedReuseAllocator(const ScopedReuseAllocator&) = delete;
  ScopedReuseAllocator& operator=(const ScopedReuseAllocator&) = delete;

 private:
  // SetAllocator replaces an allocator of the same or a lower priority only: the highest, so
  // that installing and restoring both take effect.
  static constexpr std::uint8_t kPriority = 255;
  c10::Allocator* previous_;
};

}  // namespace fastconv_bench
