// plan_cache.cpp — the process-wide plan cache (fastconv/plan_cache.hpp).
//
// The key is a byte string of everything a plan's creation reads (see the header), so equality
// is exact and hashing is one pass. Entries live in a list ordered by last use (front: newest)
// and are found through a hash map from key to list position.
#include "fastconv/plan_cache.hpp"

#include <pthread.h>
#include <unistd.h>

#include <cstring>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "fastconv/threading.hpp"
#include "isa/cpu_isa.hpp"

extern char** environ;

namespace fastconv {
namespace {

constexpr std::size_t kDefaultCapacity = 256;

class KeyWriter {
 public:
  explicit KeyWriter(std::string& bytes) : bytes_(bytes) {}
  template <typename T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    char raw[sizeof(T)];
    std::memcpy(raw, &value, sizeof(T));
    bytes_.append(raw, sizeof(T));
  }
  void put_text(std::string_view text) {
    put(text.size());
    bytes_.append(text);
  }

 private:
  std::string& bytes_;
};

void put_view(KeyWriter& key, const TensorView& view) {
  key.put(view.rank);
  if (view.rank == 0) return;
  key.put(view.dtype);
  for (int i = 0; i < view.rank; ++i) key.put(view.shape[std::size_t(i)]);
}

void put_doubles(KeyWriter& key, const std::vector<double>& values) {
  key.put(values.size());
  for (double value : values) key.put(value);  // bit patterns
}

// Every FASTCONV_* variable of the environment, name and value. One pass over environ (what
// getenv would scan once per variable).
void put_environment(KeyWriter& key) {
  constexpr std::string_view prefix = "FASTCONV_";
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, prefix.data(), prefix.size()) == 0) key.put_text(*entry);
  }
}

// Writes the key into `bytes` (cleared first; its capacity is reused across calls).
void make_key(std::string& bytes, ConvKind kind, const ConvArgs& shapes, const ConvParams& params,
              Engine engine, const InnerOp& op) {
  bytes.clear();
  KeyWriter key(bytes);
  key.put(kind);
  key.put(engine);
  for (const TensorView* view : {&shapes.src, &shapes.weight, &shapes.bias, &shapes.dst,
                                 &shapes.diff_dst, &shapes.diff_src, &shapes.diff_weight,
                                 &shapes.diff_bias})
    put_view(key, *view);
  key.put(params.spatial_dims);
  key.put(params.strides);
  key.put(params.dilations);
  key.put(params.pad_begin);
  key.put(params.pad_end);
  key.put(params.output_paddings);
  key.put(params.group_count);
  key.put(&op.table());
  key.put(&op.derivative_table());
  key.put(op.pad_value());
  key.put(op.epilogue_kind());
  put_doubles(key, op.op_params());
  put_doubles(key, op.epilogue_params());
  key.put(get_num_threads());
  key.put(detail::active_isa());
  put_environment(key);
}

using PlanPtr = std::shared_ptr<const ConvPlan>;

class PlanCache {
 public:
  PlanPtr find(std::string_view key) {
    const std::lock_guard lock(mutex_);
    const auto found = index_.find(key);
    if (found == index_.end()) return nullptr;
    entries_.splice(entries_.begin(), entries_, found->second);  // now the newest
    ++stats_.hits;
    return found->second->second;
  }

  // Adds `plan` unless another thread added one for the key meanwhile; returns the one kept.
  PlanPtr insert(std::string key, PlanPtr plan) {
    const std::lock_guard lock(mutex_);
    ++stats_.misses;
    if (const auto found = index_.find(key); found != index_.end()) return found->second->second;
    if (stats_.capacity == 0) return plan;
    entries_.emplace_front(std::move(key), plan);
    index_.emplace(entries_.front().first, entries_.begin());
    evict_to(stats_.capacity);
    return plan;
  }

  PlanCacheStats stats() {
    const std::lock_guard lock(mutex_);
    PlanCacheStats stats = stats_;
    stats.size = entries_.size();
    return stats;
  }

  void set_capacity(std::size_t plans) {
    const std::lock_guard lock(mutex_);
    stats_.capacity = plans;
    evict_to(plans);
  }

  void clear() {
    std::list<Entry> dropped;  // plans are destroyed outside the lock
    {
      const std::lock_guard lock(mutex_);
      index_.clear();
      dropped.swap(entries_);
      const std::size_t capacity = stats_.capacity;
      stats_ = PlanCacheStats{};
      stats_.capacity = capacity;
    }
  }

  // Fork: the lock is taken before fork() and released after it in parent and child, so the
  // child's copy is never locked by a thread it does not have.
  void lock_for_fork() { mutex_.lock(); }
  void unlock_after_fork() { mutex_.unlock(); }

 private:
  using Entry = std::pair<std::string, PlanPtr>;

  void evict_to(std::size_t plans) {
    while (entries_.size() > plans) {
      index_.erase(entries_.back().first);
      entries_.pop_back();
      ++stats_.evictions;
    }
  }

  std::mutex mutex_;
  std::list<Entry> entries_;
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  // views of entries_' keys
  PlanCacheStats stats_ = [] {
    PlanCacheStats stats;
    stats.capacity = kDefaultCapacity;
    return stats;
  }();
};

// Never destroyed: plans may be looked up from other static destructors or threads at exit.
PlanCache& cache() {
  static PlanCache* const instance = new PlanCache;
  return *instance;
}

[[maybe_unused]] const bool fork_handlers_registered = [] {
  cache();  // created before any fork, so the handlers never construct it
  return ::pthread_atfork([] { cache().lock_for_fork(); }, [] { cache().unlock_after_fork(); },
                          [] { cache().unlock_after_fork(); }) == 0;
}();

}  // namespace

std::shared_ptr<const ConvPlan> cached_plan(ConvKind kind, const ConvArgs& shapes,
                                            const ConvParams& params, Engine engine,
                                            const InnerOp& op) {
  thread_local std::string key;  // a lookup allocates nothing once the buffer has grown
  make_key(key, kind, shapes, params, engine, op);
  if (PlanPtr plan = cache().find(key)) return plan;
  auto plan = std::make_shared<const ConvPlan>(kind, shapes, params, engine, op);
  return cache().insert(key, std::move(plan));
}

PlanCacheStats plan_cache_stats() { return cache().stats(); }
void set_plan_cache_capacity(std::size_t plans) { cache().set_capacity(plans); }
void clear_plan_cache() { cache().clear(); }

}  // namespace fastconv
