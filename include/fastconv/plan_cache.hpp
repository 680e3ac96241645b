// fastconv/plan_cache.hpp — plans kept across calls, so repeated one-call convolutions of the
// same problem skip planning.
//
// The one-call operations (ops.hpp) and the Python front take their ConvPlan from a
// process-wide cache. A plan is looked up by everything its creation reads:
//   - the kind, which operands are present, their shapes and dtypes;
//   - every ConvParams field, the requested engine;
//   - the inner operation: its table and derivative table (identity), pad value, epilogue and
//     parameters (bit patterns, so -0.0, NaN payloads and 0.0 are told apart);
//   - get_num_threads() at the call (the plan's per-thread workspace slots are sized from it),
//     the active ISA (FASTCONV_MAX_ISA, read once per process), and every FASTCONV_* environment
//     variable with its value (the engines' tuning overrides and FASTCONV_VERBOSE are read
//     when a plan is made; a change makes a new plan).
// Strides and data pointers are not part of the key: a plan never reads them at creation, and
// each run() checks its operands (alignment, overlap, shapes) and accepts any strides.
//
// The cache is bounded (least recently used plans go first; default 256 plans; a plan holds
// its engine's set-up, never weights or a workspace), safe to use from several threads at once (plans are created outside
// its lock; two threads missing on one problem may both create it, one is kept), and safe
// across fork(): its lock is held around fork() so a child never inherits it locked.
// FASTCONV_VERBOSE prints a problem's line when its plan is created, not on cache hits.
// Plans made with packed weights (ConvPlan::pack_weights) are never in the cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "fastconv/engine.hpp"
#include "fastconv/inner_op.hpp"
#include "fastconv/params.hpp"
#include "fastconv/plan.hpp"

namespace fastconv {

// The plan for this problem (shapes and dtypes of `shapes`; strides and data ignored), from the
// cache or created and added to it. Throws what the ConvPlan constructor throws (nothing is
// cached then). The plan stays valid while the caller holds it, even after eviction.
std::shared_ptr<const ConvPlan> cached_plan(ConvKind kind, const ConvArgs& shapes,
                                            const ConvParams& params,
                                            Engine engine = Engine::automatic,
                                            const InnerOp& op = InnerOp());

struct PlanCacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;     // plans created by cached_plan
  std::uint64_t evictions = 0;  // plans dropped to stay within the capacity
  std::size_t size = 0;         // plans held now
  std::size_t capacity = 0;
};
PlanCacheStats plan_cache_stats();

// At most `plans` plans are kept (0: none, every call plans afresh); evicts down to it now.
void set_plan_cache_capacity(std::size_t plans);
// Drops every cached plan and zeroes the counters.
void clear_plan_cache();

}  // namespace fastconv
