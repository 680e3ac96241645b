// NaN / Inf propagation, outputs pre-filled with NaN, ConvPlan reuse and concurrent runs,
// empty batches, and results across thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/check.hpp"
#include "support/naive.hpp"
#include "support/problem.hpp"
#include "support/engines.hpp"
#include "support/tensor.hpp"

namespace {

namespace fc = fastconv;
using fctest::Op;
using fctest::Problem;
using fctest::Tensor;
constexpr auto f32 = fc::DType::float32;
constexpr auto f64 = fc::DType::float64;
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

std::string engine_label(fc::Engine engine) {
  return engine == fc::Engine::automatic ? "automatic" : fc::engine_name(engine);
}

class EveryEngine : public ::testing::TestWithParam<fc::Engine> {};

// A NaN in one input element makes the outputs that depend on it NaN, and no others. "Depends"
// is found with the naive oracle on positive inputs with an indicator at that element. Whether
// a padded (implicitly zero) tap times a NaN weight gives NaN (IEEE: 0 * NaN = NaN, as when the
// padding is materialised) is not specified, so such outputs may be either, but every engine
// must give the reference engine's NaN pattern.
TEST_P(EveryEngine, NaNPropagatesToExactlyTheDependentOutputs) {
  for (const Op op : fctest::kAllOps)
    for (std::uint64_t seed = 1; seed <= 25; ++seed) {
      const Problem p = fctest::random_problem(op, seed);
      fctest::Rng rng(fctest::mix_seed(seed, 0xBAD));
      auto tensors = fctest::allocate(p, f32, false);
      fctest::fill_int_inputs(p, tensors, rng, 1, 3);
      fctest::fill_outputs_with_sentinel(p, tensors);
      std::vector<std::size_t> inputs;
      for (std::size_t i = 0; i < p.operands.size(); ++i)
        if (!p.operands[i].is_output) inputs.push_back(i);
      const std::size_t target =
          inputs[std::size_t(rng.uniform_int(0, std::int64_t(inputs.size()) - 1))];
      const std::int64_t element = rng.uniform_int(0, tensors[target].numel() - 1);

      // The outputs are affine in the target operand: f(indicator) - f(0) is its linear part
      // applied to the indicator, nonzero exactly where the output depends on the element
      // (all other values are positive, so nothing cancels).
      std::vector<std::vector<double>> indicator, zeroed;
      for (const auto i : inputs) {
        indicator.push_back(tensors[i].to_dense());
        zeroed.push_back(indicator.back());
        if (i == target)
          for (std::size_t e = 0; e < indicator.back().size(); ++e) {
            indicator.back()[e] = e == std::size_t(element) ? 1.0 : 0.0;
            zeroed.back()[e] = 0.0;
          }
      }
      auto dependence = [&](double padding_value) {
        auto result = fctest::naive_run(p, indicator, padding_value);
        const auto base = fctest::naive_run(p, zeroed, padding_value);
        for (std::size_t o = 0; o < result.size(); ++o)
          for (std::size_t e = 0; e < result[o].size(); ++e) result[o][e] -= base[o][e];
        return result;
      };
      const auto must = dependence(0.0);  // through real input elements
      const auto may = dependence(1.0);   // also through padded taps
      tensors[target].set_linear(element, kNaN);
      auto reference = fctest::allocate(p, f32, false);
      fctest::copy_inputs(p, tensors, reference, false);
      fctest::run(p, tensors, GetParam(), p.api);
      fctest::run(p, reference, fc::Engine::reference);
      std::size_t out_index = 0;
      for (std::size_t i = 0; i < p.operands.size(); ++i) {
        if (!p.operands[i].is_output) continue;
        const auto values = tensors[i].to_dense();
        const auto reference_values = reference[i].to_dense();
        std::int64_t missing = 0, spurious = 0, unlike_reference = 0;
        for (std::size_t e = 0; e < values.size(); ++e) {
          const bool nan = std::isnan(values[e]);
          missing += must[out_index][e] != 0.0 && !nan ? 1 : 0;
          spurious += may[out_index][e] == 0.0 && nan ? 1 : 0;
          unlike_reference += nan != std::isnan(reference_values[e]) ? 1 : 0;
        }
        const std::string where = p.operands[i].name + ", NaN in " + p.operands[target].name +
                                  " element " + std::to_string(element) + "\n" + p.describe();
        EXPECT_EQ(missing, 0) << "outputs depending on the NaN are not NaN: " << where;
        EXPECT_EQ(spurious, 0) << "NaN reached outputs that do not depend on it: " << where;
        EXPECT_EQ(unlike_reference, 0) << "NaN pattern differs from the reference: " << where;
        ++out_index;
      }
    }
}

TEST_P(EveryEngine, InfTimesZeroIsNaN) {
  // out[j] = x[j] * 1 + x[j+1] * 0 + x[j+2] * 1 with x = [1 2 inf 3 4].
  const float src[] = {1, 2, std::numeric_limits<float>::infinity(), 3, 4};
  const float weight[] = {1, 0, 1};
  float dst[3] = {};
  fc::conv_forward(fc::make_view(src, {1, 1, 5}), fc::make_view(weight, {1, 1, 3}), nullptr,
                   fc::make_view(dst, {1, 1, 3}), fc::ConvParams(1), GetParam());
  EXPECT_TRUE(std::isinf(dst[0]) && dst[0] > 0);
  EXPECT_TRUE(std::isnan(dst[1]));
  EXPECT_TRUE(std::isinf(dst[2]) && dst[2] > 0);
  // backward_weights: dw[k] = sum_j x[j + k] dy[j], x = [inf 1 1], dy = [0 1].
  const double x[] = {kInf, 1, 1};
  const double dy[] = {0, 1};
  double dw[2] = {};
  fc::conv_backward_weights(fc::make_view(x, {1, 1, 3}), fc::make_view(dy, {1, 1, 2}),
                            fc::make_view(dw, {1, 1, 2}), nullptr, fc::ConvParams(1), GetParam());
  EXPECT_TRUE(std::isnan(dw[0]));
  EXPECT_EQ(dw[1], 1.0);
  // Transposed / backward_data: an Inf meeting a zero weight tap gives NaN there only.
  const double y[] = {kInf, 2};
  const double w[] = {0, 1};
  double up[3] = {};
  fc::conv_transpose_forward(fc::make_view(y, {1, 1, 2}), fc::make_view(w, {1, 1, 2}), nullptr,
                             fc::make_view(up, {1, 1, 3}), fc::ConvParams(1), GetParam());
  EXPECT_TRUE(std::isnan(up[0]));  // inf * 0
  EXPECT_TRUE(std::isinf(up[1]));  // inf * 1 + 2 * 0
  EXPECT_EQ(up[2], 2.0);
  double dx[3] = {};
  fc::conv_backward_data(fc::make_view(y, {1, 1, 2}), fc::make_view(w, {1, 1, 2}),
                         fc::make_view(dx, {1, 1, 3}), fc::ConvParams(1), GetParam());
  EXPECT_TRUE(std::isnan(dx[0]));
  EXPECT_TRUE(std::isinf(dx[1]));
  EXPECT_EQ(dx[2], 2.0);
  // unfold copies Inf and pads with exact zeros; fold sums Inf.
  double columns[2 * 3];
  const std::int64_t kernel[] = {2};
  const double image[] = {kInf, 1};
  fc::unfold(fc::make_view(image, {1, 1, 2}), fc::make_view(columns, {1, 2, 3}), kernel,
             fc::ConvParams(1).padding({1}), GetParam());
  const double expected[] = {0, kInf, 1, kInf, 1, 0};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(columns[i], expected[i]) << i;
  double folded[2] = {};
  fc::fold(fc::make_view(columns, {1, 2, 3}), fc::make_view(folded, {1, 1, 2}), kernel,
           fc::ConvParams(1).padding({1}), GetParam());
  EXPECT_TRUE(std::isinf(folded[0]));
  EXPECT_EQ(folded[1], 2.0);
}

// Outputs must be overwritten, never accumulated into: NaN garbage in dst must not leak.
TEST_P(EveryEngine, OutputsPrefilledWithNaNAreOverwritten) {
  for (const Op op : fctest::kAllOps)
    for (std::uint64_t seed = 1; seed <= 30; ++seed) {
      const Problem p = fctest::random_problem(op, seed);
      fctest::Rng rng(seed);
      auto tensors = fctest::allocate(p, seed % 2 ? f32 : f64, true);
      fctest::fill_real_inputs(p, tensors, rng);
      for (std::size_t i = 0; i < p.operands.size(); ++i)
        if (p.operands[i].is_output) tensors[i].fill_storage(kNaN);
      fctest::run(p, tensors, GetParam(), p.api);
      for (std::size_t i = 0; i < p.operands.size(); ++i) {
        if (!p.operands[i].is_output) continue;
        std::int64_t nans = 0;
        for (const double v : tensors[i].to_dense()) nans += std::isnan(v) ? 1 : 0;
        EXPECT_EQ(nans, 0) << p.operands[i].name << "\n" << p.describe();
      }
    }
}

TEST_P(EveryEngine, EmptyBatchIsANoOpAndZeroesWeightGradients) {
  const fc::Engine engine = GetParam();
  for (const Op op : fctest::kAllOps)
    for (std::uint64_t seed = 1; seed <= 10; ++seed) {
      Problem p = fctest::random_problem(op, seed);
      p.batch = 0;
      fctest::finalize(p);
      auto tensors = fctest::allocate(p, f32, false);  // N = 0 operands get null data
      fctest::Rng rng(seed);
      fctest::fill_int_inputs(p, tensors, rng, -3, 3);
      fctest::fill_outputs_with_sentinel(p, tensors);
      for (const auto api : {fctest::ApiPath::one_call, fctest::ApiPath::plan}) {
        EXPECT_NO_THROW(
            fctest::run(p, tensors, engine,
                        op == Op::unfold || op == Op::fold ? fctest::ApiPath::one_call : api))
            << p.describe();
      }
      // backward_weights sums over the empty batch: the gradients are exactly zero.
      for (std::size_t i = 0; i < p.operands.size(); ++i) {
        if (!p.operands[i].is_output || p.operands[i].shape[0] == 0) continue;
        for (const double v : tensors[i].to_dense())
          ASSERT_EQ(v, 0.0) << p.operands[i].name << " " << p.describe();
      }
    }
}

// One plan, run many times and from two threads at once on different outputs: identical results.
TEST_P(EveryEngine, PlanReusedAndRunConcurrently) {
  const fc::Engine engine = GetParam();
  for (const Op op : {Op::forward, Op::transposed, Op::backward_data, Op::backward_weights})
    for (std::uint64_t seed : {3u, 8u, 13u}) {
      Problem p = fctest::random_problem(op, seed);
      fctest::Rng rng(seed);
      auto inputs = fctest::allocate(p, f32, true);
      fctest::fill_real_inputs(p, inputs, rng);
      fc::ConvArgs shapes;
      {
        auto probe = fctest::allocate(p, f32, false);
        shapes = fctest::conv_args(p, probe);
        for (auto* view : {&shapes.src, &shapes.weight, &shapes.bias, &shapes.dst, &shapes.diff_dst,
                           &shapes.diff_src, &shapes.diff_weight, &shapes.diff_bias})
          view->data = nullptr;
      }
      const fc::ConvPlan plan(fctest::conv_kind(op), shapes, p.params, engine);
      // Each thread has its own outputs (and one of them its own workspace).
      auto run_many = [&](std::vector<Tensor>* tensors, bool workspace,
                          std::vector<std::vector<unsigned char>>* results) {
        std::vector<unsigned char> scratch(plan.workspace_bytes() + 64);
        void* aligned =
            scratch.data() + (64 - reinterpret_cast<std::uintptr_t>(scratch.data()) % 64);
        for (int r = 0; r < 20; ++r) {
          plan.run(fctest::conv_args(p, *tensors), workspace ? aligned : nullptr);
          for (std::size_t i = 0; i < p.operands.size(); ++i)
            if (p.operands[i].is_output) results->push_back((*tensors)[i].storage_bytes());
        }
      };
      auto copy_with_fresh_outputs = [&] {
        auto tensors = fctest::allocate(p, f32, true);
        fctest::copy_inputs(p, inputs, tensors, false);
        fctest::fill_outputs_with_sentinel(p, tensors);
        return tensors;
      };
      auto first = copy_with_fresh_outputs();
      std::vector<std::vector<unsigned char>> expected;
      plan.run(fctest::conv_args(p, first));
      for (std::size_t i = 0; i < p.operands.size(); ++i)
        if (p.operands[i].is_output) expected.push_back(first[i].storage_bytes());
      auto a = copy_with_fresh_outputs(), b = copy_with_fresh_outputs();
      std::vector<std::vector<unsigned char>> results_a, results_b;
      std::thread thread_a(run_many, &a, false, &results_a);
      std::thread thread_b(run_many, &b, true, &results_b);
      thread_a.join();
      thread_b.join();
      ASSERT_EQ(results_a.size(), 20 * expected.size());
      ASSERT_EQ(results_b.size(), 20 * expected.size());
      for (std::size_t r = 0; r < results_a.size(); ++r) {
        EXPECT_EQ(results_a[r], expected[r % expected.size()])
            << "run " << r << " " << p.describe();
        EXPECT_EQ(results_b[r], expected[r % expected.size()])
            << "run " << r << " " << p.describe();
      }
      // And the plan's result is the reference result.
      const std::string report =
          fctest::check_engine_against_reference(p, engine, fctest::ValueMode::real_f32);
      EXPECT_EQ(report, "");
    }
}

INSTANTIATE_TEST_SUITE_P(AllEngines, EveryEngine, ::testing::ValuesIn(fctest::kGeneralEngines),
                         [](const ::testing::TestParamInfo<fc::Engine>& info) {
                           return engine_label(info.param);
                         });

// The same problems with 1 and 2 threads: integer-valued results identical, real results within
// tolerance of the reference for both.
TEST(Threads, OneAndTwoThreadsAgree) {
  const int before = fc::get_num_threads();
  for (const auto engine : {fc::Engine::im2col, fc::Engine::automatic})
    for (const Op op : fctest::kAllOps)
      for (std::uint64_t seed = 1; seed <= 12; ++seed) {
        const Problem p = fctest::random_problem(op, seed);
        std::vector<std::vector<double>> outputs[2];
        for (int threads = 1; threads <= 2; ++threads) {
          fc::set_num_threads(threads);
          ASSERT_EQ(fc::get_num_threads(), threads);
          fctest::Rng rng(seed);
          auto tensors = fctest::allocate(p, f32, true);
          fctest::fill_int_inputs(p, tensors, rng, -3, 3);
          fctest::run(p, tensors, engine, p.api);
          for (std::size_t i = 0; i < p.operands.size(); ++i)
            if (p.operands[i].is_output) outputs[threads - 1].push_back(tensors[i].to_dense());
          EXPECT_EQ(fctest::check_engine_against_reference(p, engine, fctest::ValueMode::real_f32),
                    "")
              << threads << " threads";
        }
        EXPECT_EQ(outputs[0], outputs[1]) << engine_label(engine) << " " << p.describe();
      }
  fc::set_num_threads(before);
}

}  // namespace
