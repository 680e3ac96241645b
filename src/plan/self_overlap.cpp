// self_overlap.cpp — see self_overlap.hpp.
#include "plan/self_overlap.hpp"

#include <algorithm>
#include <cstdlib>

namespace fastconv::detail {
namespace {

// Wide enough that no intermediate below can overflow: every value is bounded by twice the
// view's element span (< 2^64) or by a product of two values below 2^63.
using Wide = __int128;

Wide floor_div(Wide a, Wide b) {  // b > 0
  const Wide q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
Wide ceil_div(Wide a, Wide b) {  // b > 0
  const Wide q = a / b;
  return (a % b != 0 && a > 0) ? q + 1 : q;
}
Wide gcd(Wide a, Wide b) {
  while (b != 0) {
    const Wide r = a % b;
    a = b;
    b = r;
  }
  return a < 0 ? -a : a;
}
// Inverse of `a` modulo `m` (m >= 2, gcd(a, m) == 1), in [0, m).
Wide inverse_mod(Wide a, Wide m) {
  Wide old_r = ((a % m) + m) % m, r = m, old_s = 1, s = 0;
  while (r != 0) {
    const Wide q = old_r / r;
    const Wide next_r = old_r - q * r, next_s = old_s - q * s;
    old_r = r, r = next_r;
    old_s = s, s = next_s;
  }
  return ((old_s % m) + m) % m;
}

// An axis of extent > 1 with its |stride| (> 0) and whether the stride was negative.
struct Axis {
  std::int64_t stride;
  std::int64_t max_step;  // extent - 1: the largest |i - j| on this axis
  int index;              // position in the view
  bool negative;
};

// Depth-first search for x != 0, |x_k| <= max_step_k, sum_k x_k * stride_k = 0, over axes in
// decreasing stride order. By symmetry (x and -x) the first nonzero x_k is positive.
class Search {
 public:
  Search(std::vector<Axis> axes, std::int64_t max_steps)
      : axes_(std::move(axes)), max_steps_(max_steps), x_(axes_.size(), 0) {
    const std::size_t count = axes_.size();
    reach_.assign(count + 1, 0);
    gcd_.assign(count + 1, 0);
    for (std::size_t k = count; k-- > 0;) {
      reach_[k] = reach_[k + 1] + Wide(axes_[k].max_step) * axes_[k].stride;
      gcd_[k] = gcd(gcd_[k + 1], axes_[k].stride);
    }
  }

  // true: x_ holds a solution; false: none, or the budget ran out (exceeded()).
  bool run() { return visit(0, 0, false); }
  bool exceeded() const { return exceeded_; }
  const std::vector<Wide>& solution() const { return x_; }
  const std::vector<Axis>& axes() const { return axes_; }

 private:
  // Assign x_k .. x_last so that sum_{j >= k} x_j * stride_j == target.
  bool visit(std::size_t k, Wide target, bool nonzero) {
    if (++steps_ > max_steps_) {
      exceeded_ = true;
      return false;
    }
    if (k == axes_.size()) return target == 0 && nonzero;
    const Wide stride = axes_[k].stride, rest = reach_[k + 1];
    Wide lo = std::max<Wide>(-Wide(axes_[k].max_step), ceil_div(target - rest, stride));
    const Wide hi = std::min<Wide>(axes_[k].max_step, floor_div(target + rest, stride));
    if (!nonzero) lo = std::max<Wide>(lo, 0);
    if (lo > hi) return false;
    // The smaller axes only reach multiples of their gcd G: stride * x_k == target (mod G).
    const Wide G = gcd_[k + 1];
    Wide first = lo, step = 1;
    if (G == 0) {  // last axis: x_k is determined
      if (target % stride != 0) return false;
      first = target / stride;
      if (first < lo || first > hi) return false;
    } else {
      const Wide d = gcd(stride, G);
      if (target % d != 0) return false;
      step = G / d;
      if (step > 1) {
        const Wide residue = ((target / d) % step + step) % step;
        const Wide x0 = residue * inverse_mod(stride / d, step) % step;
        first = lo + (((x0 - lo) % step) + step) % step;
      }
    }
    for (Wide x = first; x <= hi; x += step) {
      x_[k] = x;
      if (visit(k + 1, target - x * stride, nonzero || x != 0)) return true;
      if (exceeded_) return false;
    }
    x_[k] = 0;
    return false;
  }

  std::vector<Axis> axes_;
  std::int64_t max_steps_;
  std::int64_t steps_ = 0;
  bool exceeded_ = false;
  std::vector<Wide> x_, reach_, gcd_;
};

}  // namespace

SelfOverlapAnswer find_self_overlap(std::span<const std::int64_t> shape,
                                    std::span<const std::int64_t> strides, std::int64_t max_steps) {
  SelfOverlapAnswer answer;
  const std::size_t rank = shape.size();
  std::vector<Axis> axes;
  for (std::size_t i = 0; i < rank; ++i) {
    if (shape[i] == 0) return answer;  // no elements
    if (shape[i] == 1) continue;
    if (strides[i] == 0) {
      answer.verdict = SelfOverlap::overlaps;
      answer.first_index.assign(rank, 0);
      answer.second_index.assign(rank, 0);
      answer.second_index[i] = 1;
      return answer;
    }
    // |stride| of INT64_MIN would not fit; the precondition (span fits) excludes it here.
    axes.push_back({strides[i] < 0 ? -strides[i] : strides[i], shape[i] - 1, int(i), strides[i] < 0});
  }

  // Fast sufficient test.
  std::sort(axes.begin(), axes.end(), [](const Axis& a, const Axis& b) { return a.stride < b.stride; });
  Wide covered = 0;  // largest offset the smaller axes reach
  bool sorted_test_passes = true;
  for (const Axis& axis : axes) {
    if (axis.stride <= covered) {
      sorted_test_passes = false;
      break;
    }
    covered += Wide(axis.stride) * axis.max_step;
  }
  if (sorted_test_passes) return answer;

  std::reverse(axes.begin(), axes.end());
  Search search(axes, max_steps);
  if (search.run()) {
    answer.verdict = SelfOverlap::overlaps;
    answer.first_index.assign(rank, 0);
    answer.second_index.assign(rank, 0);
    for (std::size_t k = 0; k < axes.size(); ++k) {
      // x is i - j along |stride|; along the signed stride it is negated for negative strides.
      const std::int64_t x = std::int64_t(search.solution()[k]) * (axes[k].negative ? -1 : 1);
      answer.first_index[std::size_t(axes[k].index)] = x > 0 ? x : 0;
      answer.second_index[std::size_t(axes[k].index)] = x < 0 ? -x : 0;
    }
  } else if (search.exceeded()) {
    answer.verdict = SelfOverlap::undecided;
  }
  return answer;
}

}  // namespace fastconv::detail
