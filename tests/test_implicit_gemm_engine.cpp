// The implicit_gemm engine (forward float32: output channels in vector lanes, per-tile input
// windows) against Engine::reference: the shared random generator's forward problems (small and
// large), and this file's own seeded problems with more channels per group (several output-
// channel blocks and remainders, several pixel tiles per row, input-channel chunks), 1-D / 2-D /
// 3-D, groups, stride > kernel, dilation, asymmetric padding, batch > 1, bias on and off, and
// every operand layout (NCHW, channels-last, gapped, permuted, reversed, broadcast), with
// integer-valued inputs (exact) and real inputs (tolerance from the reduction length). Also:
// ConvPlan::pack_weights gives the same result, 1 and 2 threads agree, the workspace does not
// depend on the image size, batch or thread count and stays <= 1 MiB per slot on the benchmark
// layers, and the decline reasons.
//
// Reproduce one failing problem with the line the failure prints, e.g.
//   FASTCONV_TEST_SEED=17 ./test_implicit_gemm_engine --gtest_filter='...'
#include <gtest/gtest.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/check.hpp"
#include "support/engine_checks.hpp"
#include "support/engines.hpp"
#include "support/problem.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fctest::Layout;
using fctest::Op;
using fctest::Problem;
using fctest::ValueMode;
using Shape = std::vector<std::int64_t>;

constexpr fc::Engine kEngine = fc::Engine::implicit_gemm;
constexpr int kProblemsPerTest = 200;
constexpr int kLargeProblemsPerTest = 40;
constexpr ValueMode kFloat32Modes[] = {ValueMode::int_f32, ValueMode::real_f32};

// A reproducible forward problem sized for this engine: up to 80 output channels per group
// (one to three blocks of 16..64 channels, with remainders), rows up to 70 pixels wide (several
// tiles), and now and then many input channels (several chunks) or a large 3-D kernel.
// With op backward_data or transposed: the same (the engine's backward_data: stride phases).
Problem igemm_problem(std::uint64_t seed, Op op = Op::forward) {
  fctest::Rng rng(fctest::mix_seed(seed, op == Op::forward ? 0x16E3 : 0x16E4 + std::uint64_t(op)));
  for (int attempt = 0;; ++attempt) {
    const int d = int(rng.uniform_int(1, 3));
    const std::int64_t groups = rng.chance(0.7) ? 1 : rng.uniform_int(2, 3);
    const bool many_inputs = rng.chance(0.1);
    const std::int64_t in_per_group = many_inputs ? rng.uniform_int(200, 700) : rng.uniform_int(1, 24);
    const std::int64_t out_per_group = rng.chance(0.2) ? rng.uniform_int(1, 8) : rng.uniform_int(9, 80);
    const std::int64_t batch = rng.chance(0.6) ? 1 : rng.uniform_int(2, 3);
    fc::ConvParams params(d);
    params.group_count = groups;
    Shape in, kernel;
    const bool fits = fctest::draw_axes(
        rng, op, {.stride_one = 0.6, .dilation_one = 0.7, .pad_end_same = 0.5},
        [&](bool last) { return last ? rng.uniform_int(1, 70) : rng.uniform_int(1, d == 3 ? 5 : 9); },
        params, in, kernel);
    if (!fits && attempt < 10000) continue;
    Problem p = fctest::make_problem(op, batch, groups * in_per_group, groups * out_per_group, in, kernel, params,
                                     op != Op::backward_data && rng.chance(0.5));
    if (p.mac_count() > 3000000 && attempt < 10000) continue;
    fctest::finish_random_problem(
        p, seed, rng, {.output = {0.4, 0.7, 0.9}, .input = {0.35, 0.6, 0.75, 0.85, 0.95}});
    return p;
  }
}

void run_seeds(fc::Engine engine, int count, const std::function<Problem(std::uint64_t)>& make,
               ValueMode mode) {
  fctest::expect_no_failed_problems(
      count, make,
      [&](const Problem& p) { return fctest::check_engine_against_reference(p, engine, mode); },
      fc::engine_name(engine));
}

class ImplicitGemmVsReference : public ::testing::TestWithParam<ValueMode> {};

// The shared generator's forward problems, on every engine that takes all forward float32
// problems (this one among them).
TEST_P(ImplicitGemmVsReference, SharedGeneratorProblems) {
  for (const fc::Engine engine : fctest::kForwardFloat32Engines)
    run_seeds(engine, kProblemsPerTest,
              [](std::uint64_t seed) { return fctest::random_problem(Op::forward, seed); }, GetParam());
}

TEST_P(ImplicitGemmVsReference, SharedGeneratorLargeProblems) {
  for (const fc::Engine engine : fctest::kForwardFloat32Engines)
    run_seeds(engine, kLargeProblemsPerTest,
              [](std::uint64_t seed) { return fctest::random_problem(Op::forward, seed, true); }, GetParam());
}

TEST_P(ImplicitGemmVsReference, WideChannelProblems) {
  run_seeds(kEngine, kProblemsPerTest, [](std::uint64_t seed) { return igemm_problem(seed); }, GetParam());
}

// backward_data and the transposed convolution: per stride phase, the forward of the flipped
// sub-kernel (phases no tap reaches get the bias).
TEST_P(ImplicitGemmVsReference, BackwardDataAndTransposed) {
  for (const Op op : {Op::backward_data, Op::transposed})
    run_seeds(kEngine, kProblemsPerTest / 2, [op](std::uint64_t seed) { return igemm_problem(seed, op); },
              GetParam());
}

// ... and the shared generator's backward_data / transposed problems.
TEST_P(ImplicitGemmVsReference, SharedGeneratorBackwardData) {
  for (const Op op : {Op::backward_data, Op::transposed}) {
    int checked = 0;
    for (std::uint64_t seed = 1; checked < kProblemsPerTest / 2 && seed < 20 * kProblemsPerTest; ++seed) {
      const Problem p = fctest::random_problem(op, seed);
      if (fctest::decline_message(p, kEngine) != "accepted") continue;
      ++checked;
      EXPECT_EQ(fctest::check_engine_against_reference(p, kEngine, GetParam()), "");
    }
    EXPECT_GE(checked, kProblemsPerTest / 2) << fctest::op_name(op);
  }
}

INSTANTIATE_TEST_SUITE_P(Float32, ImplicitGemmVsReference, ::testing::ValuesIn(kFloat32Modes),
                         [](const ::testing::TestParamInfo<ValueMode>& info) {
                           return std::string(fctest::mode_name(info.param));
                         });

// The generator really produces what the tests above claim to cover.
TEST(ImplicitGemmEngine, ListedAsForwardFloat32Engine) {
  EXPECT_NE(std::find(std::begin(fctest::kForwardFloat32Engines), std::end(fctest::kForwardFloat32Engines), kEngine),
            std::end(fctest::kForwardFloat32Engines));
}

TEST(ImplicitGemmGenerator, CoversEveryFeature) {
  std::map<std::string, int> seen;
  for (std::uint64_t seed = 1; seed <= kProblemsPerTest; ++seed) {
    const Problem p = igemm_problem(seed);
    seen["dims=" + std::to_string(p.spatial_dims)]++;
    if (p.groups > 1) seen["groups"]++;
    if (p.batch > 1) seen["batch>1"]++;
    if (p.has_bias) seen["bias"]++;
    if (p.in_channels / p.groups >= 200) seen["many inputs"]++;
    if (p.out_channels / p.groups > 64) seen["K/g > 64"]++;
    if (p.output_spatial.back() > 24) seen["wide rows"]++;
    for (int i = 0; i < p.spatial_dims; ++i) {
      if (p.params.strides[i] > p.kernel[std::size_t(i)]) seen["stride > kernel"]++;
      if (p.params.dilations[i] > 1) seen["dilation"]++;
      if (p.params.pad_begin[i] != p.params.pad_end[i]) seen["asymmetric padding"]++;
    }
    for (const auto& operand : p.operands) seen[operand.name + ":" + fctest::layout_name(operand.layout)]++;
  }
  for (const char* feature : {"dims=1", "dims=2", "dims=3", "groups", "batch>1", "bias", "many inputs",
                              "K/g > 64", "wide rows", "stride > kernel", "dilation", "asymmetric padding",
                              "src:channels_last", "src:gapped", "src:reversed", "src:broadcast",
                              "dst:channels_last", "dst:gapped", "dst:permuted"})
    EXPECT_GE(seen[feature], 3) << feature;
}

// Edge shapes: many input channels (several chunks, accumulated in dst; with either loop order
// forced by FASTCONV_IGEMM_CHUNKS_OUTER as well as the engine's choice), a large 3-D kernel
// (output-channel blocks packed a few at a time), the ResNet-50 7x7 layer shape on a small
// image, one output channel, one input channel, one output pixel, wide rows cut into blocks.
TEST(ImplicitGemmEdges, ChunksBlocksAndTinyShapes) {
  struct Edge {
    std::int64_t batch, in_channels, out_channels, groups;
    Shape input, kernel;
    std::int64_t stride, dilation, pad;
  };
  const Edge edges[] = {
      {1, 700, 70, 1, {5, 9}, {3, 3}, 1, 1, 1},       {1, 2, 170, 1, {11, 11, 12}, {11, 11, 11}, 1, 1, 0},
      {1, 3, 64, 1, {20, 20}, {7, 7}, 2, 1, 3},       {2, 5, 1, 1, {9, 31}, {3, 3}, 1, 1, 1},
      {1, 1, 33, 1, {40}, {5}, 1, 2, 4},              {1, 16, 16, 1, {1, 1}, {1, 1}, 1, 1, 0},
      {1, 64, 48, 2, {3, 29}, {1, 3}, 3, 1, 0},       {1, 1200, 21, 3, {4, 4}, {2, 2}, 2, 1, 1},
      {1, 300, 17, 1, {3, 200}, {3, 3}, 1, 1, 1},  // blocks of a few tiles inside a row
  };
  for (const char* order : {"", "0", "1"}) {
    for (const Edge& e : edges) {
      if (*order != '\0' && e.in_channels < 700) continue;  // one chunk: no loop order to force
      for (const bool bias : {false, true})
        for (const Layout layout : {Layout::contiguous, Layout::channels_last}) {
          fc::ConvParams params(int(e.input.size()));
          params.group_count = e.groups;
          for (std::size_t i = 0; i < e.input.size(); ++i) {
            params.strides[i] = e.stride;
            params.dilations[i] = e.dilation;
            params.pad_begin[i] = params.pad_end[i] = e.pad;
          }
          Problem p = fctest::make_problem(Op::forward, e.batch, e.in_channels, e.out_channels, e.input,
                                           e.kernel, params, bias);
          p.seed = 3;
          for (auto& operand : p.operands)
            if (operand.shape.size() > 1) operand.layout = layout;
          ::setenv("FASTCONV_IGEMM_CHUNKS_OUTER", order, 1);
          EXPECT_EQ(fctest::check_engine_against_reference(p, kEngine, ValueMode::int_f32), "")
              << "FASTCONV_IGEMM_CHUNKS_OUTER=" << order;
          ::unsetenv("FASTCONV_IGEMM_CHUNKS_OUTER");
        }
    }
  }
}

TEST(ImplicitGemmEngine, DeclinesWithReasons) {
  const auto params = fc::ConvParams(2).padding({1});
  const Problem forward = fctest::make_problem(Op::forward, 1, 4, 8, {9, 9}, {3, 3}, params, true);
  EXPECT_EQ(fctest::decline_message(forward, kEngine), "accepted");
  EXPECT_NE(fctest::decline_message(forward, kEngine, fc::DType::float64).find("float32 only"), std::string::npos);
  // backward_data and the transposed convolution: any stride up to 16 phases, float32 only.
  for (const Op op : {Op::transposed, Op::backward_data}) {
    EXPECT_EQ(fctest::decline_message(fctest::make_problem(op, 1, 3, 5, {9, 9}, {3, 3}, params, false), kEngine),
              "accepted")
        << fctest::op_name(op);
    auto strided = params;
    strided.strides = {2, 3, 1};
    EXPECT_EQ(fctest::decline_message(fctest::make_problem(op, 1, 3, 5, {9, 9}, {3, 3}, strided, false), kEngine),
              "accepted")
        << fctest::op_name(op);
    strided.strides = {5, 4, 1};
    EXPECT_NE(fctest::decline_message(fctest::make_problem(op, 1, 3, 5, {19, 19}, {3, 3}, strided, false), kEngine)
                  .find("20 stride phases (takes <= 16)"),
              std::string::npos)
        << fctest::op_name(op);
    EXPECT_NE(fctest::decline_message(fctest::make_problem(op, 1, 3, 5, {9, 9}, {3, 3}, params, false), kEngine,
                                      fc::DType::float64)
                  .find("float32 only"),
              std::string::npos)
        << fctest::op_name(op);
  }
  // A huge dilation over a tiny dst: the flipped forward's padded window would be huge (fuzz
  // corpus transposed_1d_huge_dilation_tiny_input): declined, im2col's chunks are bounded.
  const Problem huge = fctest::make_problem(Op::backward_data, 1, 1, 1, {4294967296}, {2},
                                            fc::ConvParams(1).dilation({4294967295}), false);
  EXPECT_NE(fctest::decline_message(huge, kEngine).find("MiB per thread"), std::string::npos)
      << fctest::decline_message(huge, kEngine);
  const Problem weights = fctest::make_problem(Op::backward_weights, 1, 3, 3, {9, 9}, {3, 3}, params, false);
  EXPECT_NE(fctest::decline_message(weights, kEngine).find("forward and backward_data only"), std::string::npos);
}

// A NaN or infinite weight: backward_data's padding must not multiply it (the reference has no
// such product); the run is redone exactly, giving the reference's NaN pattern and values.
TEST(ImplicitGemmEngine, BackwardDataWithNonFiniteWeightsMatchesReference) {
  const auto params = fc::ConvParams(2).padding({1});
  for (const double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()})
    for (const Op op : {Op::backward_data, Op::transposed}) {
      Problem p = fctest::make_problem(op, 1, 24, 40, {7, 9}, {3, 3}, params, false);
      p.seed = 9;
      fctest::Rng rng(p.seed);
      auto tensors = fctest::allocate(p, fc::DType::float32, false);
      fctest::fill_int_inputs(p, tensors, rng, 1, 3);
      tensors[std::size_t(p.find("weight"))].set_linear(4, bad);  // the centre tap of the first filter
      auto reference = fctest::allocate(p, fc::DType::float32, false);
      fctest::copy_inputs(p, tensors, reference, false);
      fctest::run(p, tensors, kEngine, p.api);
      fctest::run(p, reference, fc::Engine::reference);
      for (std::size_t i = 0; i < p.operands.size(); ++i) {
        if (!p.operands[i].is_output) continue;
        const auto got = tensors[i].to_dense(), expected = reference[i].to_dense();
        std::int64_t differ = 0;
        for (std::size_t e = 0; e < got.size(); ++e)
          differ += std::isnan(got[e]) != std::isnan(expected[e]) || (!std::isnan(got[e]) && got[e] != expected[e]);
        EXPECT_EQ(differ, 0) << fctest::op_name(op) << " with weight " << bad;
      }
    }
}

// ConvPlan::pack_weights: runs without the weight give exactly the run-time-packing result.
TEST(ImplicitGemmEngine, PackedWeightsGiveTheSameResult) {
  for (std::uint64_t seed = 1; seed <= 40; ++seed)
    EXPECT_EQ(fctest::packed_weights_report(igemm_problem(seed), kEngine, ValueMode::real_f32, true), "");
}

// Integer-valued results are identical with 1 and 2 threads (items split, statically or as
// dynamic parts, and, for few pixels and many output channels, output-channel blocks split).
TEST(ImplicitGemmEngine, OneAndTwoThreadsAgree) {
  std::vector<Problem> problems;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) problems.push_back(igemm_problem(seed));
  const auto params = fc::ConvParams(2).padding({1});
  problems.push_back(fctest::make_problem(Op::forward, 1, 64, 512, {7, 7}, {3, 3}, params, true));
  problems.push_back(fctest::make_problem(Op::forward, 1, 32, 64, {30, 30}, {3, 3}, params, true));
  // Several channel chunks packed by the team of threads together; with enough tiles, run as
  // dynamically handed-out parts (one chunk and four chunks).
  problems.push_back(fctest::make_problem(Op::forward, 1, 700, 70, {9, 9}, {3, 3}, params, true));
  problems.push_back(fctest::make_problem(Op::forward, 1, 32, 64, {40, 60}, {3, 3}, params, true));
  problems.push_back(fctest::make_problem(Op::forward, 1, 300, 70, {44, 72}, {3, 3}, params, true));
  for (Problem& p : problems) {
    p.seed = 5;
    EXPECT_EQ(fctest::outputs_with_threads(p, kEngine, 1, 11), fctest::outputs_with_threads(p, kEngine, 2, 11))
        << p.describe();
  }
}

std::size_t forward_workspace(std::int64_t batch, std::int64_t in_channels, std::int64_t out_channels,
                              const Shape& input, const Shape& kernel, const fc::ConvParams& params) {
  const Problem p = fctest::make_problem(Op::forward, batch, in_channels, out_channels, input, kernel,
                                         params, true);
  return fc::ConvPlan(fc::ConvKind::forward, fctest::shape_args(p), p.params, kEngine).workspace_bytes();
}

// The workspace depends on the channels, the kernel and the threads a plan is prepared for (one
// slot per thread: max(get_num_threads(), processors)), not on the image height or the batch; a
// wider image changes how rows are cut into runs but stays within the same bound. Within 1 MiB
// per slot on the benchmark suite's layers (ResNet-50, audio, video).
TEST(ImplicitGemmEngine, WorkspaceIsBoundedPerThread) {
  const int before = fc::get_num_threads();
  fc::set_num_threads(1);
  const auto pad1 = fc::ConvParams(2).padding({1});
  const std::size_t small = forward_workspace(1, 64, 64, {56, 56}, {3, 3}, pad1);
  EXPECT_EQ(forward_workspace(8, 64, 64, {56, 56}, {3, 3}, pad1), small);
  EXPECT_EQ(forward_workspace(1, 64, 64, {1000, 56}, {3, 3}, pad1), small);
  const std::size_t budget = std::size_t(std::max(1, omp_get_num_procs())) << 20;  // 1 MiB per slot
  for (const std::int64_t width : {57, 500, 4000, 100000})
    EXPECT_LE(forward_workspace(1, 64, 64, {56, width}, {3, 3}, pad1), budget) << width;
  const int slots = std::max(1, omp_get_num_procs());
  fc::set_num_threads(slots + 5);  // more threads than processors: more slots, each bounded
  const std::size_t wide = forward_workspace(1, 64, 64, {56, 56}, {3, 3}, pad1);
  EXPECT_GT(wide, small);
  EXPECT_LE(wide, std::size_t(slots + 5) << 20);
  EXPECT_EQ(wide - small, (wide - small) / 5 * 5) << "5 more slots of equal size";
  fc::set_num_threads(before);

  struct Layer {
    std::int64_t in_channels, out_channels, size, kernel, stride;
  };
  const Layer resnet50[] = {{3, 64, 224, 7, 2},     {64, 64, 56, 1, 1},     {64, 64, 56, 3, 1},
                            {64, 256, 56, 1, 1},    {256, 64, 56, 1, 1},    {256, 128, 56, 1, 1},
                            {128, 128, 56, 3, 2},   {128, 128, 28, 3, 1},   {128, 512, 28, 1, 1},
                            {512, 128, 28, 1, 1},   {256, 512, 56, 1, 2},   {512, 256, 28, 1, 1},
                            {256, 256, 28, 3, 2},   {256, 256, 14, 3, 1},   {256, 1024, 14, 1, 1},
                            {1024, 256, 14, 1, 1},  {512, 1024, 28, 1, 2},  {1024, 512, 14, 1, 1},
                            {512, 512, 14, 3, 2},   {512, 512, 7, 3, 1},    {512, 2048, 7, 1, 1},
                            {2048, 512, 7, 1, 1},   {1024, 2048, 14, 1, 2}};
  for (const Layer& l : resnet50) {
    auto params = fc::ConvParams(2).stride({l.stride}).padding({l.kernel / 2});
    EXPECT_LE(forward_workspace(1, l.in_channels, l.out_channels, {l.size, l.size}, {l.kernel, l.kernel},
                                params),
              budget)
        << l.in_channels << "->" << l.out_channels << " " << l.size << " k" << l.kernel;
  }
  EXPECT_LE(forward_workspace(1, 256, 256, {16000}, {3}, fc::ConvParams(1).padding({1})), budget);
  EXPECT_LE(forward_workspace(1, 64, 64, {8, 56, 56}, {3, 3, 3}, fc::ConvParams(3).padding({1})), budget);
}

}  // namespace
