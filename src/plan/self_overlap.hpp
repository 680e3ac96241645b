// self_overlap.hpp — does a strided view address one element twice?
//
// A view with extents n_k and strides s_k (in elements) addresses offset sum_k i_k * s_k for
// each index 0 <= i_k < n_k. It overlaps itself when two different indices i != j give one
// offset, i.e. when some x = i - j != 0 with |x_k| <= n_k - 1 solves sum_k x_k * s_k = 0.
//
// find_self_overlap answers exactly:
//   1. an axis longer than 1 with stride 0 overlaps (x = that axis' unit vector);
//   2. the fast sufficient test: with axes sorted by |stride|, each stride steps past the
//      largest offset the smaller axes reach -> no overlap (every dense or padded layout,
//      channels-last, permuted and reversed axes);
//   3. otherwise a bounded search for x (as numpy's solve_may_have_internal_overlap): axes by
//      decreasing |stride|, each x_k limited to the values that keep the rest reachable
//      (|remaining target| <= sum of the smaller axes' spans) and congruent modulo the gcd of
//      the smaller strides. It stops after `max_steps` visited nodes with `undecided`.
// Precondition: sum_k (n_k - 1) * |s_k| fits in int64 (the caller has checked the byte range).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace fastconv::detail {

enum class SelfOverlap { none, overlaps, undecided };

struct SelfOverlapAnswer {
  SelfOverlap verdict = SelfOverlap::none;
  // When `overlaps`: two different indices with one offset.
  std::vector<std::int64_t> first_index, second_index;
};

// Node budget of the search used by the operand checks (well under a millisecond).
inline constexpr std::int64_t kSelfOverlapMaxSteps = 1 << 16;

SelfOverlapAnswer find_self_overlap(std::span<const std::int64_t> shape,
                                    std::span<const std::int64_t> strides,
                                    std::int64_t max_steps = kSelfOverlapMaxSteps);

}  // namespace fastconv::detail
