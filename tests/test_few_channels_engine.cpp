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

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/check.hpp"
#include "support/problem.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fctest::Layout;
using fctest::Op;
using fctest::Problem;
using fctest::ValueMode;

constexpr int kProblemsPerTest = 200;
constexpr int kMaxReportedFailures = 5;
constexpr fc::Engine kEngine = fc::Engine::few_channels;

Layout pick_layout(fctest::Rng& rng, bool is_output, std::size_t rank) {
  const double r = rng.uniform_real(0.0, 1.0);
  if (rank == 1) return r < 0.5 ? Layout::contiguous : (r < 0.8 || is_output ? Layout::gapped : Layout::reversed);
  if (r < 0.35) return Layout::contiguous;
  if (r < 0.6) return Layout::channels_last;
  if (r < 0.75 || is_output) return r < 0.85 ? Layout::gapped : Layout::permuted;
  if (r < 0.85) return Layout::permuted;
  return r < 0.95 ? Layout::reversed : Layout::broadcast;
}

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
    std::vector<std::int64_t> in(static_cast<std::size_t>(d)), kernel(static_cast<std::size_t>(d));
    bool fits = true;
    for (int i = 0; i < d; ++i) {
      const bool last = i == d - 1;
      kernel[std::size_t(i)] = rng.uniform_int(1, d == 3 ? 3 : 5);
      params.strides[i] = rng.chance(0.5) ? 1 : rng.uniform_int(2, 4);
      params.dilations[i] = rng.chance(0.6) ? 1 : rng.uniform_int(2, 3);
      params.pad_begin[i] = rng.chance(0.35) ? 0 : rng.uniform_int(0, 3);
      params.pad_end[i] = rng.chance(0.35) ? params.pad_begin[i] : rng.uniform_int(0, 3);
      in[std::size_t(i)] = wide && last ? rng.uniform_int(250, 700)
                                        : rng.uniform_int(1, d == 3 ? 6 : (d == 2 ? 12 : 40));
      const std::int64_t extent = params.dilations[i] * (kernel[std::size_t(i)] - 1) + 1;
      fits = fits && in[std::size_t(i)] + params.pad_begin[i] + params.pad_end[i] >= extent;
    }
    if (!fits && attempt < 10000) continue;
    Problem p = fctest::make_problem(Op::forward, batch, groups * c_per_group, groups * k_per_group,
                                     in, kernel, params, has_bias);
    p.seed = seed;
    if (p.mac_count() > (wide ? 150000 : 30000) && attempt < 10000) continue;
    p.api = static_cast<fctest::ApiPath>(seed % 3);
    for (auto& operand : p.operands) operand.layout = pick_layout(rng, operand.is_output, operand.shape.size());
    return p;
  }
}

template <typename Check>
void run_seeds(Check&& check) {
  int failures = 0;
  const auto seeds = fctest::test_seeds(kProblemsPerTest);
  for (const auto seed : seeds) {
    const std::string report = check(few_channels_problem(seed));
    if (report.empty()) continue;
    if (++failures <= kMaxReportedFailures) ADD_FAILURE() << report;
  }
  EXPECT_EQ(failures, 0) << failures << " of " << seeds.size() << " problems failed";
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
  run_seeds([&](const Problem& p) -> std::string {
    fctest::Rng rng(fctest::mix_seed(p.seed, 0x1AF));
    auto tensors = fctest::allocate(p, fc::DType::float32, true);
    fctest::fill_int_inputs(p, tensors, rng, -3, 3);
    std::vector<std::size_t> inputs;
    for (std::size_t i = 0; i < p.operands.size(); ++i)
      if (!p.operands[i].is_output) inputs.push_back(i);
    const auto target = inputs[std::size_t(rng.uniform_int(0, std::int64_t(inputs.size()) - 1))];
    const std::int64_t element = rng.uniform_int(0, tensors[target].numel() - 1);
    const double bad = rng.chance(0.5) ? std::numeric_limits<double>::quiet_NaN()
                                       : -std::numeric_limits<double>::infinity();
    tensors[target].set_linear(element, bad);
    auto reference = fctest::allocate(p, fc::DType::float32, false);
    fctest::copy_inputs(p, tensors, reference, false);
    fctest::fill_outputs_with_sentinel(p, tensors);
    fctest::fill_outputs_with_sentinel(p, reference);
    fctest::run(p, tensors, kEngine, p.api);
    fctest::run(p, reference, fc::Engine::reference);
    const int dst = p.find("dst");
    const auto got = tensors[std::size_t(dst)].to_dense(), expected = reference[std::size_t(dst)].to_dense();
    std::int64_t differ = 0;
    for (std::size_t e = 0; e < got.size(); ++e)
      differ += (std::isnan(got[e]) != std::isnan(expected[e]) || (!std::isnan(got[e]) && got[e] != expected[e])) ? 1 : 0;
    if (differ == 0) return "";
    return p.describe() + "\n  dst: " + std::to_string(differ) + " elements differ (" + p.operands[target].name +
           " element " + std::to_string(element) + " = " + std::to_string(bad) + ")\n" + fctest::reproduce_hint(p.seed);
  });
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
    seen["dims=" + std::to_string(p.spatial_dims)]++;
    if (p.groups > 1) seen["groups"]++;
    if (p.out_channels / p.groups > 8) seen["K/g>8"]++;
    seen[p.batch == 1 ? "batch=1" : "batch>1"]++;
    if (p.has_bias) seen["bias"]++;
    for (int i = 0; i < p.spatial_dims; ++i) {
      if (p.params.strides[i] > p.kernel[std::size_t(i)]) seen["stride>kernel"]++;
      if (p.params.dilations[i] > 1) seen["dilation"]++;
      if (p.params.pad_begin[i] != p.params.pad_end[i]) seen["asymmetric padding"]++;
      if (p.input_spatial[std::size_t(i)] > 256) seen["wide row"]++;
    }
    for (const auto& operand : p.operands)
      if (operand.shape.size() > 1) seen[std::string("layout=") + fctest::layout_name(operand.layout)]++;
  }
  for (const std::string feature :
       {"C/g=1", "C/g=2", "C/g=3", "C/g=4", "thin group", "dims=1", "dims=2", "dims=3", "groups", "K/g>8", "batch=1",
        "batch>1", "bias", "stride>kernel", "dilation", "asymmetric padding", "wide row", "layout=contiguous",
        "layout=channels_last", "layout=gapped", "layout=permuted", "layout=reversed"})
    EXPECT_GT(seen[feature], 0) << "no problem has " << feature;
}

fc::ConvArgs shape_args(const Problem& p) {
  std::vector<fctest::Tensor> tensors;
  for (const auto& operand : p.operands) tensors.emplace_back(fc::DType::float32, operand.shape);
  fc::ConvArgs args = fctest::conv_args(p, tensors);
  for (fc::TensorView* view : {&args.src, &args.weight, &args.bias, &args.dst, &args.diff_dst, &args.diff_src,
                               &args.diff_weight, &args.diff_bias})
    view->data = nullptr;  // a plan is created from shapes only
  return args;
}

std::string decline_message(const Problem& p, fc::DType dtype = fc::DType::float32) {
  fc::ConvArgs args = shape_args(p);
  for (fc::TensorView* view : {&args.src, &args.weight, &args.bias, &args.dst, &args.diff_dst, &args.diff_src,
                               &args.diff_weight, &args.diff_bias})
    view->dtype = dtype;
  try {
    fc::ConvPlan plan(fctest::conv_kind(p.op), args, p.params, kEngine);
  } catch (const fc::Error& e) {
    EXPECT_EQ(e.kind(), fc::ErrorKind::engine_declined) << e.what();
    return e.what();
  }
  return "accepted";
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
  EXPECT_EQ(decline_message(four), "accepted");
  EXPECT_NE(decline_message(four, fc::DType::float64).find("float32 only"), std::string::npos);
  for (const Op op : {Op::transposed, Op::backward_data, Op::backward_weights}) {
    const Problem p = fctest::make_problem(op, 1, 3, 3, {9, 9}, {3, 3}, params, false);
    EXPECT_NE(decline_message(p).find("forward only"), std::string::npos) << fctest::op_name(op);
  }
}

// ConvPlan::pack_weights: runs without the weight give the same result.
TEST(FewChannelsEngine, PackedWeightsGiveTheSameResult) {
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    const Problem p = few_channels_problem(seed);
    fctest::Rng rng(seed);
    auto tensors = fctest::allocate(p, fc::DType::float32, false);
    fctest::fill_int_inputs(p, tensors, rng, -3, 3);
    fc::ConvArgs args = fctest::conv_args(p, tensors);
    fc::ConvPlan plan(fc::ConvKind::forward, args, p.params, kEngine);
    plan.run(args);
    const int dst = p.find("dst");
    const auto expected = tensors[std::size_t(dst)].to_dense();
    plan.pack_weights(args.weight);
    ASSERT_TRUE(plan.has_packed_weights());
    fc::ConvArgs without = args;
    without.weight = {};
    tensors[std::size_t(dst)].fill(-5);
    plan.run(without);
    EXPECT_EQ(tensors[std::size_t(dst)].to_dense(), expected) << p.describe();
  }
}

// The plan's workspace for a forward problem, from shapes only (nothing allocated).
std::size_t forward_workspace(const Problem& p) {
  fc::ConvArgs args;
  args.src = fc::TensorView::contiguous(nullptr, fc::DType::float32, p.operands[std::size_t(p.find("src"))].shape);
  args.weight = fc::TensorView::contiguous(nullptr, fc::DType::float32, p.operands[std::size_t(p.find("weight"))].shape);
  args.dst = fc::TensorView::contiguous(nullptr, fc::DType::float32, p.operands[std::size_t(p.find("dst"))].shape);
  return fc::ConvPlan(fc::ConvKind::forward, args, p.params, kEngine).workspace_bytes();
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
  const int before = fc::get_num_threads();
  auto params = fc::ConvParams(2).padding({1});
  params.group_count = 4;
  for (const Problem& p : {fctest::make_problem(Op::forward, 2, 12, 16, {40, 300}, {3, 3}, params, true),
                           fctest::make_problem(Op::forward, 1, 3, 16, {1024, 1024}, {3, 3},
                                                fc::ConvParams(2).padding({1}), true),
                           fctest::make_problem(Op::forward, 3, 3, 3, {200, 1000}, {3, 3}, fc::ConvParams(2), false)}) {
    std::vector<double> outputs[2];
    for (int threads = 1; threads <= 2; ++threads) {
      fc::set_num_threads(threads);
      fctest::Rng rng(7);
      auto tensors = fctest::allocate(p, fc::DType::float32, false);
      fctest::fill_int_inputs(p, tensors, rng, -3, 3);
      fctest::run(p, tensors, kEngine);
      outputs[threads - 1] = tensors[std::size_t(p.find("dst"))].to_dense();
    }
    EXPECT_EQ(outputs[0], outputs[1]) << p.describe();
  }
  fc::set_num_threads(before);
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
