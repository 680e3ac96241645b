// The few_channels engine against Engine::reference on seeded random problems with few input
// channels per group (C/groups = 1..4, K/groups = 1..20 to reach every channel-block remainder),
// forward float32: 1-D/2-D/3-D, stride > kernel, dilation, groups, asymmetric padding, batch 1
// and > 1, bias on and off, random operand layouts (channels-last, gapped, permuted, reversed,
// broadcast) and rows wider than the engine's tiles; integer-valued inputs (exact) and real
// inputs (within the reduction bound). Also: non-finite values give NaN where the reference
// does, pack_weights, decline reasons, one and two threads agree, and the workspace does not
// grow with the image.
//
// Reproduce one failing problem with the line the failure prints, e.g.
//   FASTCONV_TEST_SEED=17 ./test_few_channels_engine --gtest_filter='...'
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/check.hpp"
#include "support/engine_checks.hpp"
#include "support/problem.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fctest::Layout;
using fctest::Op;
using fctest::Problem;
using fctest::ValueMode;

constexpr int kProblemsPerTest = 200;
constexpr fc::Engine kEngine = fc::Engine::few_channels;

// A reproducible forward problem with C/groups <= 4 or a thin group; a quarter have a wide last axis (up to 700)
// to cross the engine's width tiles, and some have many output channels per group.
Problem few_channels_problem(std::uint64_t seed) {
  fctest::Rng rng(fctest::mix_seed(seed, 0xFC4A));
  for (int attempt = 0;; ++attempt) {
    const int d = int(rng.uniform_int(1, 3));
    const bool wide = d < 3 && rng.chance(0.25);
    const std::int64_t groups = rng.uniform_int(1, 3);
    // Few channels (any K/groups) or, one time in five, a thin group (C/g, K/g <= 16).
    const bool thin = rng.chance(0.2);
    const std::int64_t c_per_group = thin ? rng.uniform_int(5, 16) : rng.uniform_int(1, 4);
    const std::int64_t k_per_group = thin              ? rng.uniform_int(1, 16)
                                     : rng.chance(0.3) ? rng.uniform_int(5, 20)
                                                       : rng.uniform_int(1, 4);
    const std::int64_t batch = rng.chance(0.45) ? 1 : rng.uniform_int(2, 3);
    const bool has_bias = rng.chance(0.5);
    fc::ConvParams params(d);
    params.group_count = groups;
    std::vector<std::int64_t> in, kernel;
    const bool fits = fctest::draw_axes(
        rng, Op::forward, {.stride_one = 0.5, .dilation_one = 0.6, .pad_end_same = 0.35},
        [&](bool last) {
          return wide && last ? rng.uniform_int(250, 700) : rng.uniform_int(1, d == 3 ? 6 : (d == 2 ? 12 : 40));
        },
        params, in, kernel);
    if (!fits && attempt < 10000) continue;
    Problem p = fctest::make_problem(Op::forward, batch, groups * c_per_group, groups * k_per_group,
                                     in, kernel, params, has_bias);
    if (p.mac_count() > (wide ? 150000 : 30000) && attempt < 10000) continue;
    fctest::finish_random_problem(
        p, seed, rng, {.output = {0.35, 0.6, 0.85}, .input = {0.35, 0.6, 0.75, 0.85, 0.95}});
    return p;
  }
}

void run_seeds(const std::function<std::string(const Problem&)>& check) {
  fctest::expect_no_failed_problems(kProblemsPerTest, few_channels_problem, check);
}

class FewChannelsVsReference : public ::testing::TestWithParam<ValueMode> {};

TEST_P(FewChannelsVsReference, SeededRandomProblems) {
  const ValueMode mode = GetParam();
  run_seeds([&](const Problem& problem) { return fctest::check_engine_against_reference(problem, kEngine, mode); });
}

INSTANTIATE_TEST_SUITE_P(Forward, FewChannelsVsReference,
                         ::testing::Values(ValueMode::int_f32, ValueMode::real_f32),
                         [](const ::testing::TestParamInfo<ValueMode>& info) {
                           return std::string(fctest::mode_name(info.param));
                         });

// One NaN or Inf in a random input element (weights included, so padded taps meet it): NaN
// exactly where the reference has NaN, equal elsewhere.
TEST(FewChannelsEngine, NonFiniteValuesGiveTheReferencePattern) {
  run_seeds([](const Problem& p) { return fctest::non_finite_report(p, kEngine); });
}

// The generator must produce every feature the engine is tested on.
TEST(FewChannelsProblemGenerator, CoversEveryFeature) {
  std::map<std::string, int> seen;
  for (std::uint64_t seed = 1; seed <= kProblemsPerTest; ++seed) {
    const Problem p = few_channels_problem(seed);
    const std::int64_t per_group = p.in_channels / p.groups;
    const std::int64_t k_per_group = p.out_channels / p.groups;
    const bool thin = per_group > 4;
    EXPECT_TRUE(per_group <= 4 || (per_group <= 16 && k_per_group <= 16)) << p.describe();
    seen[thin ? "thin group" : "C/g=" + std::to_string(per_group)]++;
    if (p.groups > 1) seen["groups"]++;
    if (p.out_channels / p.groups > 8) seen["K/g>8"]++;
    fctest::count_problem_features(p, seen);
  }
  for (const std::string feature :
       {"C/g=1", "C/g=2", "C/g=3", "C/g=4", "thin group", "dims=1", "dims=2", "dims=3", "groups", "K/g>8", "batch=1",
        "batch>1", "bias", "stride>kernel", "dilation", "asymmetric padding", "wide row", "layout=contiguous",
        "layout=channels_last", "layout=gapped", "layout=permuted", "layout=reversed"})
    EXPECT_GT(seen[feature], 0) << "no problem has " << feature;
}

std::string decline_message(const Problem& p, fc::DType dtype = fc::DType::float32) {
  return fctest::decline_message(p, kEngine, dtype);
}

TEST(FewChannelsEngine, DeclinesWithReasons) {
  auto params = fc::ConvParams(2).padding({1});
  const Problem five = fctest::make_problem(Op::forward, 1, 5, 17, {9, 9}, {3, 3}, params, false);
  EXPECT_NE(decline_message(five).find("C/groups = 5 > 4 and not a thin group"), std::string::npos)
      << decline_message(five);
  const Problem wide = fctest::make_problem(Op::forward, 1, 17, 8, {9, 9}, {3, 3}, params, false);
  EXPECT_NE(decline_message(wide).find("K/groups = 8"), std::string::npos) << decline_message(wide);
  const Problem thin = fctest::make_problem(Op::forward, 1, 16, 16, {9, 9}, {3, 3}, params, false);
  EXPECT_EQ(decline_message(thin), "accepted");
  const Problem four = fctest::make_problem(Op::forward, 1, 4, 8, {9, 9}, {3, 3}, params, false);
  fctest::expect_forward_float32_only(kEngine, four);
}

// ConvPlan::pack_weights: runs without the weight give the same result.
TEST(FewChannelsEngine, PackedWeightsGiveTheSameResult) {
  for (std::uint64_t seed = 1; seed <= 30; ++seed)
    EXPECT_EQ(fctest::packed_weights_report(few_channels_problem(seed), kEngine, ValueMode::int_f32, false), "");
}

// The plan's workspace for a forward problem, from shapes only (nothing allocated).
std::size_t forward_workspace(const Problem& p) {
  return fc::ConvPlan(fc::ConvKind::forward, fctest::shape_args(p), p.params, kEngine).workspace_bytes();
}

// The workspace depends on the kernel and channels, not on the image size.
TEST(FewChannelsEngine, WorkspaceDoesNotGrowWithTheImage) {
  auto params = fc::ConvParams(2).padding({1});
  std::size_t small = 0;
  for (const std::int64_t size : {512, 4096, 65536}) {
    const Problem p = fctest::make_problem(Op::forward, 1, 3, 16, {size, size}, {3, 3}, params, false);
    if (size == 512) small = forward_workspace(p);
    EXPECT_LE(forward_workspace(p), small) << size;
    EXPECT_LE(forward_workspace(p), std::size_t(2) << 20) << size;
  }
  // Channels-last and a strided, dilated wide image: still bounded per thread.
  auto strided = fc::ConvParams(2).stride({2, 3}).dilation({2, 2}).padding({3});
  const Problem wide = fctest::make_problem(Op::forward, 1, 4, 4, {64, 20000}, {7, 7}, strided, false);
  EXPECT_LE(forward_workspace(wide), std::size_t(4) << 20);
}

// Integer-valued results are identical with 1 and 2 threads, also on the seed layers' shapes.
TEST(FewChannelsEngine, OneAndTwoThreadsAgree) {
  auto params = fc::ConvParams(2).padding({1});
  params.group_count = 4;
  for (const Problem& p : {fctest::make_problem(Op::forward, 2, 12, 16, {40, 300}, {3, 3}, params, true),
                           fctest::make_problem(Op::forward, 1, 3, 16, {1024, 1024}, {3, 3},
                                                fc::ConvParams(2).padding({1}), true),
                           fctest::make_problem(Op::forward, 3, 3, 3, {200, 1000}, {3, 3}, fc::ConvParams(2), false)}) {
    EXPECT_EQ(fctest::outputs_with_threads(p, kEngine, 1, 7), fctest::outputs_with_threads(p, kEngine, 2, 7))
        << p.describe();
  }
  // One large problem against the reference (exact).
  const Problem large = fctest::make_problem(Op::forward, 1, 3, 16, {64, 700}, {3, 3}, fc::ConvParams(2).padding({1}), true);
  EXPECT_EQ(fctest::check_engine_against_reference(large, kEngine, ValueMode::int_f32), "");
}

// Outputs above the engine's streaming threshold (4 MiB per thread) are stored non-temporally:
// against the reference (exact), on one thread, with rows whose 64-byte alignment changes from
// row to row (width 1000), a channel count that leaves a partial block, and a gapped dst. One
// input channel keeps the reference's work small.
TEST(FewChannelsEngine, StreamedLargeOutputsMatchTheReference) {
  const int before = fc::get_num_threads();
  fc::set_num_threads(1);
  const auto padded = fc::ConvParams(2).padding({1});
  Problem aligned = fctest::make_problem(Op::forward, 1, 1, 16, {66, 1000}, {3, 3}, padded, true);
  Problem partial = fctest::make_problem(Op::forward, 1, 1, 20, {53, 1000}, {3, 3}, padded, false);
  partial.operands[std::size_t(partial.find("dst"))].layout = Layout::gapped;
  for (const Problem& p : {aligned, partial})
    EXPECT_EQ(fctest::check_engine_against_reference(p, kEngine, ValueMode::int_f32), "") << p.describe();
  fc::set_num_threads(before);
}

}  // namespace
