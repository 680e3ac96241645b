// The winograd engine against Engine::reference on seeded random problems it takes (forward
// float32, groups = 1, kernel width 3 at stride 1 along W, dilation 1 there or 2-3 as column
// phases): 1-D/2-D/3-D, stride > kernel and dilation along D and H, asymmetric padding, odd
// output widths (a last tile with one column), C and K across the microkernel's channel blocks,
// batch 1 and > 1, bias on and off,
// random operand layouts and rows wider than a window block; integer-valued inputs (exact: the
// transform's factors are 1 and 1/2) and real inputs (within the reduction bound). Also:
// non-finite values (the fallback to implicit_gemm) give NaN where the reference does, also with
// weights packed by the plan; packed weights match unpacked ones; decline reasons; one and two
// threads agree (bands, flat calls, weight chunks); auto's choice; and the workspace does not grow
// with the image.
//
// Reproduce one failing problem with the line the failure prints, e.g.
//   FASTCONV_TEST_SEED=17 ./test_winograd_engine --gtest_filter='...'
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "isa/cpu_isa.hpp"
#include "support/check.hpp"
#include "support/engine_checks.hpp"
#include "support/problem.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fctest::Op;
using fctest::Problem;
using fctest::ValueMode;

constexpr int kProblemsPerTest = 150;
constexpr fc::Engine kEngine = fc::Engine::winograd;

// A reproducible forward problem the engine takes; a third have a wide last axis (up to 400).
Problem winograd_problem(std::uint64_t seed) {
  fctest::Rng rng(fctest::mix_seed(seed, 0x3A1F));
  for (int attempt = 0;; ++attempt) {
    const int d = int(rng.uniform_int(1, 3));
    const bool wide = d < 3 && rng.chance(0.33);
    const std::int64_t c = rng.uniform_int(1, d == 3 ? 6 : 24);
    const std::int64_t k = rng.chance(0.3) ? rng.uniform_int(33, 70) : rng.uniform_int(1, 20);
    const std::int64_t batch = rng.chance(0.45) ? 1 : rng.uniform_int(2, 3);
    const bool has_bias = rng.chance(0.5);
    fc::ConvParams params(d);
    std::vector<std::int64_t> in, kernel;
    fctest::draw_axes(
        rng, Op::forward, {.stride_one = 0.5, .dilation_one = 0.6, .pad_end_same = 0.35},
        [&](bool last) {
          return wide && last ? rng.uniform_int(120, 400) : rng.uniform_int(1, d == 3 ? 6 : (d == 2 ? 12 : 40));
        },
        params, in, kernel);
    // The engine's axis: W, kernel 3 at stride 1; dilation 1, or now and then 2-3 (column phases).
    const std::size_t w = std::size_t(d - 1);
    kernel[w] = 3;
    params.strides[w] = 1;
    params.dilations[w] = rng.chance(0.75) ? 1 : rng.uniform_int(2, 3);
    bool fits = true;
    for (std::size_t axis = 0; axis < std::size_t(d); ++axis) {
      const std::int64_t span = (kernel[axis] - 1) * params.dilations[axis] + 1;
      fits = fits && in[axis] + params.pad_begin[axis] + params.pad_end[axis] >= span;
    }
    if (!fits && attempt < 10000) continue;
    Problem p = fctest::make_problem(Op::forward, batch, c, k, in, kernel, params, has_bias);
    if (p.mac_count() > (wide ? 400000 : 60000) && attempt < 10000) continue;
    // (Column phases that read only padding are declined.)
    if (fctest::decline_message(p, fc::Engine::winograd) != "accepted" && attempt < 10000) continue;
    fctest::finish_random_problem(
        p, seed, rng, {.output = {0.35, 0.6, 0.85}, .input = {0.35, 0.6, 0.75, 0.85, 0.95}});
    return p;
  }
}

// The rounding bound of F(2,3): each product U_e V_e mixes the three weights of a kernel row
// along W with up to four input columns, so the magnitude run uses, for every weight, the sum of
// |weights| of its row along W (then sum |U_e| |V_e| <= that magnitude), and the transforms add
// up to three roundings per term (factor 2 over the direct-sum bound).
const fctest::CheckOptions kWinogradBound = {
    .magnitude_weight =
        [](fctest::Tensor& weight) {
          const std::vector<double> values = weight.to_dense();  // |w|, W (3 taps) innermost
          for (std::int64_t row = 0; row < weight.numel() / 3; ++row) {
            const double sum = values[std::size_t(3 * row)] + values[std::size_t(3 * row + 1)] +
                               values[std::size_t(3 * row + 2)];
            for (std::int64_t tap = 0; tap < 3; ++tap) weight.set_linear(3 * row + tap, sum);
          }
        },
    .error_factor = 2.0};

void run_seeds(const std::function<std::string(const Problem&)>& check) {
  fctest::expect_no_failed_problems(kProblemsPerTest, winograd_problem, check);
}

class WinogradVsReference : public ::testing::TestWithParam<ValueMode> {};

TEST_P(WinogradVsReference, SeededRandomProblems) {
  const ValueMode mode = GetParam();
  run_seeds([&](const Problem& problem) {
    return fctest::check_engine_against_reference(problem, kEngine, mode, kWinogradBound);
  });
}

INSTANTIATE_TEST_SUITE_P(Forward, WinogradVsReference,
                         ::testing::Values(ValueMode::int_f32, ValueMode::real_f32),
                         [](const ::testing::TestParamInfo<ValueMode>& info) {
                           return std::string(fctest::mode_name(info.param));
                         });

// One NaN or Inf in a random input element (weights included): NaN exactly where the reference
// has NaN, equal elsewhere (the engine hands such problems to implicit_gemm).
TEST(WinogradEngine, NonFiniteValuesGiveTheReferencePattern) {
  run_seeds([](const Problem& p) { return fctest::non_finite_report(p, kEngine); });
}

// The generator must produce every feature the engine is tested on.
TEST(WinogradProblemGenerator, CoversEveryFeature) {
  std::map<std::string, int> seen;
  for (std::uint64_t seed = 1; seed <= kProblemsPerTest; ++seed) {
    const Problem p = winograd_problem(seed);
    EXPECT_EQ(p.groups, 1) << p.describe();
    if (p.out_channels > 32) seen["K>32"]++;
    const std::int64_t w = p.params.spatial_dims - 1;
    const std::int64_t out_w = p.operands[std::size_t(p.find("dst"))].shape.back();
    if (out_w % 2 == 1) seen["odd output width"]++;
    if (p.params.pad_begin[std::size_t(w)] > 0) seen["padded W"]++;
    if (p.params.dilations[std::size_t(w)] > 1) seen["dilated W"]++;
    fctest::count_problem_features(p, seen);
  }
  for (const std::string feature :
       {"K>32", "odd output width", "padded W", "dilated W", "dims=1", "dims=2", "dims=3", "batch=1", "batch>1", "bias",
        "stride>kernel", "dilation", "asymmetric padding", "wide row", "layout=contiguous", "layout=channels_last",
        "layout=gapped", "layout=permuted", "layout=reversed"})
    EXPECT_GT(seen[feature], 0) << "no problem has " << feature;
}

std::string decline_message(const Problem& p, fc::DType dtype = fc::DType::float32) {
  return fctest::decline_message(p, kEngine, dtype);
}

TEST(WinogradEngine, DeclinesWithReasons) {
  auto padded = fc::ConvParams(2).padding({1});
  const Problem taken = fctest::make_problem(Op::forward, 1, 8, 8, {9, 9}, {3, 3}, padded, false);
  EXPECT_EQ(decline_message(taken), "accepted");
  const Problem five = fctest::make_problem(Op::forward, 1, 8, 8, {9, 9}, {3, 5}, padded, false);
  EXPECT_NE(decline_message(five).find("kernel width 5, stride 1, dilation 1 along W (takes 3, 1, 1)"),
            std::string::npos)
      << decline_message(five);
  // Dilated along W: in column phases.
  const Problem dilated = fctest::make_problem(Op::forward, 1, 8, 8, {9, 11}, {3, 3},
                                               fc::ConvParams(2).padding({2}).dilation({2}), false);
  EXPECT_EQ(decline_message(dilated), "accepted");
  const Problem dilated_strided = fctest::make_problem(Op::forward, 1, 8, 8, {9, 11}, {3, 3},
                                                       fc::ConvParams(2).stride({1, 2}).dilation({1, 2}), false);
  EXPECT_NE(decline_message(dilated_strided).find("kernel width 3 at stride 1 along W only"), std::string::npos)
      << decline_message(dilated_strided);
  const Problem strided = fctest::make_problem(Op::forward, 1, 8, 8, {9, 9}, {3, 3}, fc::ConvParams(2).stride({1, 2}),
                                               false);
  EXPECT_NE(decline_message(strided).find("stride 2"), std::string::npos) << decline_message(strided);
  auto grouped_params = fc::ConvParams(2).padding({1});
  grouped_params.group_count = 2;
  const Problem grouped = fctest::make_problem(Op::forward, 1, 8, 8, {9, 9}, {3, 3}, grouped_params, false);
  EXPECT_NE(decline_message(grouped).find("groups = 2"), std::string::npos) << decline_message(grouped);
  const Problem deep = fctest::make_problem(Op::forward, 1, 1024, 8, {9, 9}, {9, 3}, padded, false);
  EXPECT_NE(decline_message(deep).find("too large for a window"), std::string::npos) << decline_message(deep);
  // Weights over the budget are transformed in chunks of output channels: taken.
  const Problem heavy = fctest::make_problem(Op::forward, 1, 512, 512, {9, 9}, {3, 3}, padded, false);
  EXPECT_EQ(decline_message(heavy), "accepted");
  fctest::expect_forward_float32_only(kEngine, taken);
}

// auto's rule (engine_registry.cpp): winograd on AVX-512 and AVX2 for 96 <= C*KD*KH <= 1024, K >= 32 and
// output rows >= 14 (ResNet-50's res2-res4 3x3, audio, video); implicit_gemm otherwise.
TEST(WinogradEngine, AutoTakesItWhereMeasuredFaster) {
  auto padded = [](int d) { return fc::ConvParams(d).padding({1}); };
  const bool vector_isa = fastconv::detail::active_isa() != fastconv::detail::Isa::scalar;
  for (const Problem& p : {fctest::make_problem(Op::forward, 1, 64, 64, {56, 56}, {3, 3}, padded(2), false),
                           fctest::make_problem(Op::forward, 1, 256, 256, {14, 14}, {3, 3}, padded(2), false),
                           fctest::make_problem(Op::forward, 1, 256, 256, {16000}, {3}, padded(1), false),
                           fctest::make_problem(Op::forward, 1, 64, 64, {8, 56, 56}, {3, 3, 3}, padded(3), false),
                           fctest::make_problem(Op::forward, 1, 32, 32, {56, 56}, {3, 3}, padded(2), false)})
    EXPECT_EQ(fc::ConvPlan(fc::ConvKind::forward, fctest::shape_args(p), p.params).engine(),
              vector_isa ? fc::Engine::winograd : fc::Engine::implicit_gemm)
        << p.describe();
  for (const Problem& p : {fctest::make_problem(Op::forward, 1, 16, 32, {224, 224}, {3, 3}, padded(2), false),
                           fctest::make_problem(Op::forward, 1, 64, 16, {56, 56}, {3, 3}, padded(2), false),
                           fctest::make_problem(Op::forward, 1, 512, 512, {7, 7}, {3, 3}, padded(2), false),
                           fctest::make_problem(Op::forward, 1, 64, 64, {4000}, {3}, padded(1), false)})
    EXPECT_EQ(fc::ConvPlan(fc::ConvKind::forward, fctest::shape_args(p), p.params).engine(), fc::Engine::implicit_gemm)
        << p.describe();
}

// Weights transformed once by the plan (pack_weights) give the same outputs as per run, on the
// random problems (real values, random layouts) and on the chunked and flat fixed ones.
TEST(WinogradEngine, PackedWeightsMatchUnpacked) {
  for (std::uint64_t seed = 0; seed < 40; ++seed)
    EXPECT_EQ(fctest::packed_weights_report(winograd_problem(seed), kEngine, ValueMode::real_f32, true), "") << seed;
  for (const Problem& p :
       {fctest::make_problem(Op::forward, 1, 256, 96, {6, 20}, {3, 3}, fc::ConvParams(2).padding({1, 0}), true),
        fctest::make_problem(Op::forward, 2, 16, 40, {14, 14}, {3, 3}, fc::ConvParams(2).padding({1}), true)})
    EXPECT_EQ(fctest::packed_weights_report(p, kEngine, ValueMode::int_f32, false), "") << p.describe();
}

// Packed weights with an Inf or NaN: the run without the weight goes to implicit_gemm on the
// plan's copy of the weight and gives the reference's NaN/Inf pattern.
TEST(WinogradEngine, PackedNonFiniteWeightsGiveTheReferencePattern) {
  const fc::ConvParams params = fc::ConvParams(2).padding({1});
  for (const double bad : {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    fctest::Rng rng(11);
    fctest::Tensor src(fc::DType::float32, {1, 8, 9, 11}), weight(fc::DType::float32, {12, 8, 3, 3});
    fctest::Tensor dst(fc::DType::float32, {1, 12, 9, 11}), expected(fc::DType::float32, {1, 12, 9, 11});
    src.fill_int(rng, -3, 3);
    weight.fill_int(rng, -3, 3);
    weight.set_linear(100, bad);
    const fc::ConvArgs shapes{.src = src.view(), .weight = weight.view(), .dst = dst.view()};
    fc::ConvPlan reference(fc::ConvKind::forward, {.src = src.view(), .weight = weight.view(), .dst = expected.view()},
                           params, fc::Engine::reference);
    reference.run({.src = src.view(), .weight = weight.view(), .dst = expected.view()});
    fc::ConvPlan packed(fc::ConvKind::forward, shapes, params, kEngine);
    packed.pack_weights(weight.view());
    packed.run({.src = src.view(), .dst = dst.view()});
    const std::vector<double> got = dst.to_dense(), want = expected.to_dense();
    std::int64_t differ = 0, non_finite = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      differ += std::isnan(got[i]) != std::isnan(want[i]) || (!std::isnan(got[i]) && got[i] != want[i]);
      non_finite += !std::isfinite(want[i]);
    }
    EXPECT_EQ(differ, 0) << bad;
    EXPECT_GT(non_finite, 0) << bad;
  }
}

// Huge finite inputs (near +-3e38, alternating in sign along W, where the input transform's
// differences exceed FLT_MAX) with tiny weights: the true results are finite, so winograd (and
// auto, which picks it for this layer) hands them to the exact fallback and matches the reference
// (to float rounding; auto takes winograd here on AVX-512 and AVX2), with weights transformed per
// run or packed once, on 1 and 2 threads. A
// large input in one window only, and a block of huge weights with small inputs, likewise.
TEST(WinogradEngine, HugeFiniteOperandsStayFinite) {
  const fc::ConvParams params = fc::ConvParams(2).padding({1});
  const int threads_before = fc::get_num_threads();
  struct Case {
    const char* name;
    double input_scale, weight_scale;
    bool every_window;
    bool negative_middle_taps = false;  // the only non-zero weights: negative, in the middle column
  };
  for (const Case& c : {Case{"inputs 3e38", 3e38, 1e-6, true}, Case{"one huge input window", 3e38, 1e-6, false},
                        Case{"weights 1e35", 1.0, 1e35, true}, Case{"inputs 1e17 weights 1e17", 1e17, 1e17, true},
                        Case{"inputs 3e38, negative middle taps", 3e38, 1e-6, true, true},
                        // The input transform's d1 + d2 overflows by itself: 0 * inf must not reach dst.
                        Case{"inputs 3e38, zero weights", 3e38, 0.0, true}}) {
    fctest::Rng rng(5);
    fctest::Tensor src(fc::DType::float32, {1, 128, 14, 40}), weight(fc::DType::float32, {64, 128, 3, 3});
    fctest::Tensor expected(fc::DType::float32, {1, 64, 14, 40});
    for (std::int64_t i = 0; i < src.numel(); ++i) {
      const std::int64_t w = i % 40, h = i / 40 % 14;
      const bool big = c.every_window || (h < 2 && w < 8);
      src.set_linear(i, (w % 2 ? -1.0 : 1.0) * (big ? c.input_scale : 1.0) * (0.5 + 0.5 * rng.uniform_real(0, 1)));
    }
    for (std::int64_t i = 0; i < weight.numel(); ++i)
      weight.set_linear(i, !c.negative_middle_taps ? c.weight_scale * rng.uniform_real(-1, 1)
                           : i % 3 == 1          ? -c.weight_scale * rng.uniform_real(0.5, 1)
                                                 : 0.0);
    const fc::ConvArgs reference_args{.src = src.view(), .weight = weight.view(), .dst = expected.view()};
    fc::ConvPlan(fc::ConvKind::forward, reference_args, params, fc::Engine::reference).run(reference_args);
    // The bound of a float32 sum of L terms: 2 (L + 2) u sum |terms|, with sum |terms| from the
    // reference on |src| and |weight| in float64.
    fctest::Tensor src_abs = src.contiguous_copy(fc::DType::float64, true);
    fctest::Tensor weight_abs = weight.contiguous_copy(fc::DType::float64, true);
    fctest::Tensor magnitude(fc::DType::float64, {1, 64, 14, 40});
    const fc::ConvArgs magnitude_args{.src = src_abs.view(), .weight = weight_abs.view(), .dst = magnitude.view()};
    fc::ConvPlan(fc::ConvKind::forward, magnitude_args, params, fc::Engine::reference).run(magnitude_args);
    const std::vector<double> want = expected.to_dense(), sums = magnitude.to_dense();
    std::int64_t reference_non_finite = 0;
    for (const double v : want) reference_non_finite += !std::isfinite(v);
    ASSERT_EQ(reference_non_finite, 0) << c.name;
    const double factor = 2.0 * (128 * 9 + 2) * std::ldexp(1.0, -24);
    for (const int threads : {1, 2})
      for (const bool packed : {false, true})
        for (const fc::Engine engine : {kEngine, fc::Engine::automatic}) {
          fc::set_num_threads(threads);
          fctest::Tensor dst(fc::DType::float32, {1, 64, 14, 40});
          fc::ConvPlan plan(fc::ConvKind::forward, {.src = src.view(), .weight = weight.view(), .dst = dst.view()},
                            params, engine);
          const std::string where = std::string(c.name) + " threads=" + std::to_string(threads) +
                                    (packed ? " packed " : " ") + fc::engine_name(plan.engine());
          if (packed) {
            plan.pack_weights(weight.view());
            plan.run({.src = src.view(), .dst = dst.view()});
          } else {
            plan.run({.src = src.view(), .weight = weight.view(), .dst = dst.view()});
          }
          const std::vector<double> got = dst.to_dense();
          std::int64_t bad = 0;
          for (std::size_t i = 0; i < got.size(); ++i) {
            const bool wrong = !std::isfinite(got[i]) || std::abs(got[i] - want[i]) > factor * sums[i];
            if (wrong && bad < 3) ADD_FAILURE() << where << " at " << i << ": " << got[i] << " vs " << want[i];
            bad += wrong;
          }
          EXPECT_EQ(bad, 0) << where;
        }
  }
  fc::set_num_threads(threads_before);
}

// The plan's workspace for a forward problem, from shapes only (nothing allocated).
std::size_t forward_workspace(const Problem& p) {
  return fc::ConvPlan(fc::ConvKind::forward, fctest::shape_args(p), p.params, kEngine).workspace_bytes();
}

TEST(WinogradEngine, WorkspaceDoesNotGrowWithTheImage) {
  std::size_t small = 0;
  for (const std::int64_t size : {512, 4096, 65536}) {
    const Problem p = fctest::make_problem(Op::forward, 1, 64, 64, {size, size}, {3, 3}, fc::ConvParams(2).padding({1}), false);
    if (size == 512) small = forward_workspace(p);
    EXPECT_LE(forward_workspace(p), small + small / 8) << size;
    EXPECT_LE(forward_workspace(p), std::size_t(4) << 20) << size;
  }
  const Problem audio = fctest::make_problem(Op::forward, 4, 256, 256, {1 << 20}, {3}, fc::ConvParams(1).padding({1}), false);
  EXPECT_LE(forward_workspace(audio), std::size_t(4) << 20);
}

// Integer-valued results are identical with 1 and 2 threads, and exact against the reference on
// rows of several window blocks with a channel-block remainder, and on windows of several output
// rows (bands): full bands of 16 rows and a last short one (batch 4, 37 rows), rows no output row
// reads (stride 3 over a 1-row kernel), dilation 2 and a 3-D band; kernel calls spanning output
// rows (rows of 7 and 10 tiles); weights transformed in two chunks of output channels (C 256,
// K 96) and in groups of kernel rows (9x9 in D and H: 81 rows).
TEST(WinogradEngine, OneAndTwoThreadsAgree) {
  for (const Problem& p :
       {fctest::make_problem(Op::forward, 2, 12, 40, {20, 301}, {3, 3}, fc::ConvParams(2).padding({1}), true),
        fctest::make_problem(Op::forward, 1, 24, 70, {999}, {3}, fc::ConvParams(1).padding({0}, {2}), true),
        fctest::make_problem(Op::forward, 4, 8, 40, {37, 30}, {3, 3}, fc::ConvParams(2).padding({1}), true),
        fctest::make_problem(Op::forward, 2, 5, 9, {40, 20}, {1, 3}, fc::ConvParams(2).stride({3, 1}), false),
        fctest::make_problem(Op::forward, 3, 6, 20, {45, 33}, {3, 3}, fc::ConvParams(2).padding({2, 1}).dilation({2, 1}),
                             true),
        fctest::make_problem(Op::forward, 1, 4, 33, {5, 19, 17}, {3, 3, 3}, fc::ConvParams(3).padding({1}), true),
        fctest::make_problem(Op::forward, 2, 16, 40, {14, 14}, {3, 3}, fc::ConvParams(2).padding({1}), true),
        fctest::make_problem(Op::forward, 1, 256, 96, {6, 20}, {3, 3}, fc::ConvParams(2).padding({1, 0}), true),
        fctest::make_problem(Op::forward, 1, 2, 5, {10, 11, 12}, {9, 9, 3}, fc::ConvParams(3).padding({4, 4, 1}), true)}) {
    EXPECT_EQ(fctest::outputs_with_threads(p, kEngine, 1, 7), fctest::outputs_with_threads(p, kEngine, 2, 7))
        << p.describe();
    EXPECT_EQ(fctest::check_engine_against_reference(p, kEngine, ValueMode::int_f32), "") << p.describe();
  }
}

}  // namespace
