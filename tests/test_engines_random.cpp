// Every operation on every non-reference engine against Engine::reference, on seeded random
// problems (see support/problem.hpp for what the generator covers), in three value modes:
// integer-valued float32 (exact), real float32 and real float64 (tolerance from the reduction
// length). The reference engine itself is checked against an independent naive oracle.
//
// Reproduce one failing problem with the line the failure prints, e.g.
//   FASTCONV_TEST_SEED=17 ./test_engines_random --gtest_filter='...'
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/check.hpp"
#include "support/problem.hpp"

namespace {

namespace fc = fastconv;
using fctest::Op;
using fctest::ValueMode;

constexpr int kProblemsPerTest = 200;
constexpr int kLargeProblemsPerTest = 40;
constexpr int kMaxReportedFailures = 5;

// Runs `check` on every seed; reports the first few failures in full.
template <typename Check>
void run_seeds(Op op, Check&& check, bool large = false) {
  int failures = 0;
  const auto seeds = fctest::test_seeds(large ? kLargeProblemsPerTest : kProblemsPerTest);
  for (const auto seed : seeds) {
    const auto problem = fctest::random_problem(op, seed, large);
    const std::string report = check(problem);
    if (report.empty()) continue;
    ++failures;
    if (failures <= kMaxReportedFailures) ADD_FAILURE() << report;
  }
  EXPECT_EQ(failures, 0) << failures << " of " << seeds.size() << " problems failed";
}

using EngineCase = std::tuple<Op, fc::Engine, ValueMode>;

class EngineVsReference : public ::testing::TestWithParam<EngineCase> {};

TEST_P(EngineVsReference, SeededRandomProblems) {
  const auto [op, engine, mode] = GetParam();
  // (Explicit captures: clang 14 cannot capture structured bindings.)
  run_seeds(op, [&, engine = engine, mode = mode](const fctest::Problem& problem) {
    return fctest::check_engine_against_reference(problem, engine, mode);
  });
}

std::string engine_case_name(const ::testing::TestParamInfo<EngineCase>& info) {
  const auto [op, engine, mode] = info.param;
  return std::string(fctest::op_name(op)) + "_" +
         (engine == fc::Engine::automatic ? "auto" : fc::engine_name(engine)) + "_" +
         fctest::mode_name(mode);
}

INSTANTIATE_TEST_SUITE_P(AllOps, EngineVsReference,
                         ::testing::Combine(::testing::ValuesIn(fctest::kAllOps),
                                            ::testing::Values(fc::Engine::im2col,
                                                              fc::Engine::automatic),
                                            ::testing::ValuesIn(fctest::kAllValueModes)),
                         engine_case_name);

// Fewer but bigger problems (up to 48 channels, 400k multiply-adds): GEMM blocking, tile
// remainders and the threading split are reached here.
class LargeEngineVsReference : public ::testing::TestWithParam<EngineCase> {};

TEST_P(LargeEngineVsReference, SeededRandomProblems) {
  const auto [op, engine, mode] = GetParam();
  run_seeds(
      op,
      [&, engine = engine, mode = mode](const fctest::Problem& problem) {
        return fctest::check_engine_against_reference(problem, engine, mode);
      },
      /*large=*/true);
}

INSTANTIATE_TEST_SUITE_P(AllOps, LargeEngineVsReference,
                         ::testing::Combine(::testing::ValuesIn(fctest::kAllOps),
                                            ::testing::Values(fc::Engine::im2col,
                                                              fc::Engine::automatic),
                                            ::testing::ValuesIn(fctest::kAllValueModes)),
                         engine_case_name);

// Hand-made shapes that cross the GEMM's cache blocks (rows mc <= 240, depth kc = 256, columns
// nc <= 4096 for every ISA level and dtype) and leave remainders, for every operation.
struct BlockingCase {
  const char* name;
  std::int64_t in_channels, out_channels, groups;
  std::vector<std::int64_t> input, kernel;
};

const BlockingCase kBlockingCases[] = {
    {"rows_250", 1, 250, 1, {40}, {3}},
    {"depth_600", 100, 3, 1, {12}, {6}},
    {"columns_4200", 2, 2, 1, {4200}, {1}},
    {"channels_260", 260, 5, 1, {9}, {2}},
    {"groups_2x130_2x125", 260, 250, 2, {10}, {2}},
    {"2d_rows_245_depth_270", 30, 245, 1, {6, 6}, {3, 3}},
};

class GemmBlockingEdges : public ::testing::TestWithParam<std::tuple<fc::Engine, ValueMode>> {};

TEST_P(GemmBlockingEdges, EveryOperation) {
  const auto [engine, mode] = GetParam();
  for (const auto& c : kBlockingCases)
    for (const Op op : fctest::kAllOps) {
      const bool conv = op != Op::unfold && op != Op::fold;
      if (!conv && c.groups != 1) continue;
      auto params = fc::ConvParams(int(c.input.size()));
      params.group_count = conv ? c.groups : 1;
      if (c.input.size() == 2) params.padding({1});
      auto problem =
          fctest::make_problem(op, 1, c.in_channels, conv ? c.out_channels : c.in_channels, c.input,
                               c.kernel, params, conv && op != Op::backward_data);
      problem.seed = 1;
      const std::string report = fctest::check_engine_against_reference(problem, engine, mode);
      EXPECT_EQ(report, "") << c.name;
    }
}

INSTANTIATE_TEST_SUITE_P(
    AllOps, GemmBlockingEdges,
    ::testing::Combine(::testing::Values(fc::Engine::im2col, fc::Engine::automatic),
                       ::testing::ValuesIn(fctest::kAllValueModes)),
    [](const ::testing::TestParamInfo<std::tuple<fc::Engine, ValueMode>>& info) {
      const auto engine = std::get<0>(info.param);
      return std::string(engine == fc::Engine::automatic ? "auto" : fc::engine_name(engine)) + "_" +
             fctest::mode_name(std::get<1>(info.param));
    });

using NaiveCase = std::tuple<Op, ValueMode>;

class ReferenceVsNaive : public ::testing::TestWithParam<NaiveCase> {};

TEST_P(ReferenceVsNaive, SeededRandomProblems) {
  const auto [op, mode] = GetParam();
  run_seeds(op, [&, mode = mode](const fctest::Problem& problem) {
    return fctest::check_reference_against_naive(problem, mode);
  });
}

INSTANTIATE_TEST_SUITE_P(AllOps, ReferenceVsNaive,
                         ::testing::Combine(::testing::ValuesIn(fctest::kAllOps),
                                            ::testing::Values(ValueMode::int_f32,
                                                              ValueMode::real_f64)),
                         [](const ::testing::TestParamInfo<NaiveCase>& info) {
                           return std::string(fctest::op_name(std::get<0>(info.param))) + "_" +
                                  fctest::mode_name(std::get<1>(info.param));
                         });

// The generator must really produce every feature the engines are tested on.
TEST(RandomProblemGenerator, CoversEveryFeaturePerOperation) {
  for (const Op op : fctest::kAllOps) {
    std::map<std::string, int> seen;
    for (std::uint64_t seed = 1; seed <= kProblemsPerTest; ++seed) {
      const auto p = fctest::random_problem(op, seed);
      const auto& params = p.params;
      seen["dims=" + std::to_string(p.spatial_dims)]++;
      seen[p.batch == 1 ? "batch=1" : "batch>1"]++;
      bool odd = false, stride_gt_kernel = false, dilated = false, asymmetric = false,
           output_padding = false;
      for (int i = 0; i < p.spatial_dims; ++i) {
        odd = odd || p.input_spatial[i] % 2 == 1;
        stride_gt_kernel = stride_gt_kernel || params.strides[i] > p.kernel[i];
        dilated = dilated || params.dilations[i] > 1;
        asymmetric = asymmetric || params.pad_begin[i] != params.pad_end[i];
        output_padding = output_padding || params.output_paddings[i] > 0;
      }
      if (odd) seen["odd size"]++;
      if (stride_gt_kernel) seen["stride>kernel"]++;
      if (dilated) seen["dilation"]++;
      if (asymmetric) seen["asymmetric padding"]++;
      if (output_padding) seen["output_padding"]++;
      if (p.groups > 1 && p.groups == p.in_channels) {
        seen["depthwise"]++;
        if (p.out_channels > p.in_channels) seen["depthwise multiplier>1"]++;
      } else if (p.groups > 1) {
        seen["groups"]++;
      }
      if (p.has_bias) seen["bias"]++;
      seen[std::string("api=") + fctest::api_name(p.api)]++;
      for (const auto& operand : p.operands)
        seen[operand.name + ":" + fctest::layout_name(operand.layout)]++;
    }
    std::set<std::string> wanted = {"dims=1",        "dims=2",   "dims=3",
                                    "batch=1",       "batch>1",  "odd size",
                                    "stride>kernel", "dilation", "asymmetric padding"};
    const bool conv = op != Op::unfold && op != Op::fold;
    if (conv) {
      wanted.insert({"depthwise", "depthwise multiplier>1", "groups", "api=one_call", "api=plan",
                     "api=plan+workspace"});
      if (op != Op::backward_data) wanted.insert("bias");
    }
    if (op == Op::transposed) wanted.insert("output_padding");
    for (const auto& operand : fctest::random_problem(op, 1).operands) {
      if (operand.shape.size() == 1) continue;
      for (const auto* layout : {"contiguous", "channels_last", "gapped", "permuted"})
        wanted.insert(operand.name + ":" + layout);
      if (!operand.is_output) wanted.insert(operand.name + ":reversed");
    }
    for (const auto& feature : wanted)
      EXPECT_GT(seen[feature], 0) << fctest::op_name(op) << ": no problem has " << feature;
  }
}

TEST(RandomProblemGenerator, IsReproducible) {
  for (const Op op : fctest::kAllOps)
    for (std::uint64_t seed : {1u, 7u, 123u})
      EXPECT_EQ(fctest::random_problem(op, seed).describe(),
                fctest::random_problem(op, seed).describe());
}

}  // namespace
