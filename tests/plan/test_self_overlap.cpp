// The exact self-overlap test of output views (src/plan/self_overlap.hpp) against brute force:
// every index of small random layouts enumerated, offsets compared. The verdict must match, and
// an `overlaps` answer must name two different in-range indices with one offset.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "plan/self_overlap.hpp"

namespace {

using fastconv::detail::find_self_overlap;
using fastconv::detail::SelfOverlap;
using Shape = std::vector<std::int64_t>;

std::int64_t offset_of(const Shape& index, const Shape& strides) {
  std::int64_t offset = 0;
  for (std::size_t a = 0; a < index.size(); ++a) offset += index[a] * strides[a];
  return offset;
}

// True when two different indices of `shape` share an offset.
bool brute_force_overlaps(const Shape& shape, const Shape& strides) {
  for (auto extent : shape)
    if (extent == 0) return false;
  std::set<std::int64_t> seen;
  Shape index(shape.size(), 0);
  for (;;) {
    if (!seen.insert(offset_of(index, strides)).second) return true;
    std::size_t axis = shape.size();
    while (axis > 0 && ++index[axis - 1] == shape[axis - 1]) index[--axis] = 0;
    if (axis == 0) return false;
  }
}

::testing::AssertionResult answer_is_right(const Shape& shape, const Shape& strides) {
  const auto answer = find_self_overlap(shape, strides);
  const bool truth = brute_force_overlaps(shape, strides);
  auto describe = [&] {
    std::string text = "shape";
    for (auto v : shape) text += " " + std::to_string(v);
    text += " strides";
    for (auto v : strides) text += " " + std::to_string(v);
    return text;
  };
  if (answer.verdict == SelfOverlap::undecided)
    return ::testing::AssertionFailure() << "undecided for " << describe();
  if ((answer.verdict == SelfOverlap::overlaps) != truth)
    return ::testing::AssertionFailure() << "verdict " << int(answer.verdict) << ", brute force "
                                         << truth << " for " << describe();
  if (truth) {
    const Shape& i = answer.first_index;
    const Shape& j = answer.second_index;
    if (i.size() != shape.size() || j.size() != shape.size() || i == j)
      return ::testing::AssertionFailure() << "bad witness for " << describe();
    for (std::size_t a = 0; a < shape.size(); ++a)
      if (i[a] < 0 || i[a] >= shape[a] || j[a] < 0 || j[a] >= shape[a])
        return ::testing::AssertionFailure() << "witness out of range for " << describe();
    if (offset_of(i, strides) != offset_of(j, strides))
      return ::testing::AssertionFailure() << "witness offsets differ for " << describe();
  }
  return ::testing::AssertionSuccess();
}

TEST(SelfOverlap, KnownLayouts) {
  EXPECT_EQ(find_self_overlap(Shape{3, 3}, Shape{2, 3}).verdict, SelfOverlap::none);
  EXPECT_EQ(find_self_overlap(Shape{1, 1, 3, 3}, Shape{9, 9, 2, 3}).verdict, SelfOverlap::none);
  EXPECT_EQ(find_self_overlap(Shape{3, 3}, Shape{1, 2}).verdict, SelfOverlap::overlaps);
  EXPECT_EQ(find_self_overlap(Shape{3, 3}, Shape{-1, 2}).verdict, SelfOverlap::overlaps);
  EXPECT_EQ(find_self_overlap(Shape{3, 3}, Shape{3, -2}).verdict, SelfOverlap::none);
  EXPECT_EQ(find_self_overlap(Shape{2, 3}, Shape{0, 1}).verdict, SelfOverlap::overlaps);
  // Size-1 axes take any stride, also the extreme ones; empty views never overlap.
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(find_self_overlap(Shape{1, 4, 1}, Shape{kMin, 1, 0}).verdict, SelfOverlap::none);
  EXPECT_EQ(find_self_overlap(Shape{0, 4}, Shape{0, 0}).verdict, SelfOverlap::none);
  EXPECT_EQ(find_self_overlap(Shape{}, Shape{}).verdict, SelfOverlap::none);
  // Dense, padded, channels-last and reversed layouts pass the fast test.
  EXPECT_EQ(find_self_overlap(Shape{2, 3, 4, 5}, Shape{60, 1, 15, 3}).verdict, SelfOverlap::none);
  EXPECT_EQ(find_self_overlap(Shape{2, 3, 4, 5}, Shape{-200, 60, -12, 2}).verdict, SelfOverlap::none);
}

TEST(SelfOverlap, MatchesBruteForceOnRandomLayouts) {
  std::mt19937_64 rng(2024);
  auto uniform = [&](std::int64_t lo, std::int64_t hi) {
    return lo + std::int64_t(rng() % std::uint64_t(hi - lo + 1));
  };
  for (int trial = 0; trial < 20000; ++trial) {
    const std::size_t rank = std::size_t(uniform(1, 6));
    const std::int64_t stride_limit = uniform(1, 3) == 1 ? 4 : 40;
    Shape shape(rank), strides(rank);
    for (std::size_t a = 0; a < rank; ++a) {
      shape[a] = uniform(1, 5);
      strides[a] = uniform(-stride_limit, stride_limit);
    }
    ASSERT_TRUE(answer_is_right(shape, strides)) << "trial " << trial;
  }
}

TEST(SelfOverlap, StopsAtItsWorkBound) {
  // (2, 3) fails the fast test, so the search runs: one step is not enough to decide.
  EXPECT_EQ(find_self_overlap(Shape{3, 3}, Shape{2, 3}, 1).verdict, SelfOverlap::undecided);
  EXPECT_EQ(find_self_overlap(Shape{3, 3}, Shape{2, 3}, 100).verdict, SelfOverlap::none);
  // Eight axes of 5 with strides of similar size: no two elements share an address, but proving
  // it takes more than the default budget, so the operand checks refuse it (and say why).
  const Shape shape(8, 5);
  const Shape strides = {1669677, 1428161, 1472747, 1375254, 1368249, 1633292, 1269140, 1278735};
  EXPECT_EQ(find_self_overlap(shape, strides).verdict, SelfOverlap::undecided);
  EXPECT_EQ(find_self_overlap(shape, strides, std::int64_t(1) << 36).verdict, SelfOverlap::none);
}

}  // namespace
