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
  // `previous`: the allocator being replaced; memory it handed out before and that is released
  // through this one (raw_deallocate) goes back to it.
  explicit ReuseAllocator(c10::Allocator* previous = nullptr) {
    Pool& pool = shared_pool();
    const std::lock_guard<std::mutex> lock(pool.mutex);
    ++pool.live;
    if (previous && previous->raw_deleter() != &release) pool.previous_raw_deleter = previous->raw_deleter();
  }
  ~ReuseAllocator() override {
    Pool& pool = shared_pool();
    const std::lock_guard<std::mutex> lock(pool.mutex);
    if (--pool.live > 0) return;
    for (auto& [bytes, data] : pool.free) {
      pool.sizes.erase(data);
      ::operator delete(data, kAlignment);
    }
    pool.free.clear();
  }
  ReuseAllocator(const ReuseAllocator&) = delete;
  ReuseAllocator& operator=(const ReuseAllocator&) = delete;

  // The context is the data pointer itself (raw_allocate / raw_deallocate require it).
  c10::DataPtr allocate(std::size_t bytes) const override {
    const c10::Device cpu(c10::DeviceType::CPU);
    if (bytes == 0) return {nullptr, cpu};
    Pool& pool = shared_pool();
    void* data = nullptr;
    {
      const std::lock_guard<std::mutex> lock(pool.mutex);
      const auto cached = pool.free.find(bytes);
      if (cached != pool.free.end()) {
        data = cached->second;
        pool.free.erase(cached);
      }
    }
    if (data == nullptr) {
      data = ::operator new(bytes, kAlignment);
      const std::lock_guard<std::mutex> lock(pool.mutex);
      pool.sizes[data] = bytes;
    }
    return {data, data, &release, cpu};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

 private:
  static constexpr std::align_val_t kAlignment{64};
  struct Pool {
    std::mutex mutex;
    std::multimap<std::size_t, void*> free;  // bytes -> idle block
    std::map<void*, std::size_t> sizes;       // every block of ours, idle or in use
    int live = 0;                             // allocators alive (idle blocks kept while > 0)
    c10::DeleterFnPtr previous_raw_deleter = nullptr;
  };
  // One pool for the process (the deleter is a plain function; one allocator is installed at
  // a time). Never destroyed, so tensors released at exit still find it.
  static Pool& shared_pool() {
    static Pool* pool = new Pool;
    return *pool;
  }
  static void release(void* data) {
    if (data == nullptr) return;
    Pool& pool = shared_pool();
    c10::DeleterFnPtr foreign = nullptr;
    {
      const std::lock_guard<std::mutex> lock(pool.mutex);
      const auto known = pool.sizes.find(data);
      if (known != pool.sizes.end()) {
        if (pool.live > 0) {
          pool.free.emplace(known->second, data);
          return;
        }
        pool.sizes.erase(known);
      } else {
        foreign = pool.previous_raw_deleter;  // the replaced allocator's memory
        if (foreign == nullptr) throw std::runtime_error("ReuseAllocator: release of unknown memory");
      }
    }
    if (foreign) {
      foreign(data);
    } else {
      ::operator delete(data, kAlignment);
    }
  }
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
