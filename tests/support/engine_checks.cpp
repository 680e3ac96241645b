// tests/support/engine_checks.cpp — see engine_checks.hpp.
#include "support/engine_checks.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace fctest {

namespace fc = fastconv;

void expect_no_failed_problems(int count, const std::function<Problem(std::uint64_t)>& make,
                               const std::function<std::string(const Problem&)>& check,
                               const std::string& label) {
  int failures = 0;
  const auto seeds = test_seeds(count);
  for (const auto seed : seeds) {
    const std::string report = check(make(seed));
    if (report.empty()) continue;
    if (++failures <= kMaxReportedFailures) ADD_FAILURE() << report;
  }
  EXPECT_EQ(failures, 0) << (label.empty() ? "" : label + ": ") << failures << " of "
                         << seeds.size() << " problems failed";
}

void count_problem_features(const Problem& p, std::map<std::string, int>& seen) {
  seen["dims=" + std::to_string(p.spatial_dims)]++;
  seen[p.batch == 1 ? "batch=1" : "batch>1"]++;
  if (p.has_bias) seen["bias"]++;
  for (int i = 0; i < p.spatial_dims; ++i) {
    if (p.params.strides[i] > p.kernel[std::size_t(i)]) seen["stride>kernel"]++;
    if (p.params.dilations[i] > 1) seen["dilation"]++;
    if (p.params.pad_begin[i] != p.params.pad_end[i]) seen["asymmetric padding"]++;
    if (p.input_spatial[std::size_t(i)] > 256) seen["wide row"]++;
  }
  for (const auto& operand : p.operands)
    if (operand.shape.size() > 1) seen[std::string("layout=") + layout_name(operand.layout)]++;
}

std::string non_finite_report(const Problem& p, fc::Engine engine) {
  Rng rng(mix_seed(p.seed, 0x1AF));
  auto tensors = allocate(p, fc::DType::float32, true);
  fill_int_inputs(p, tensors, rng, -3, 3);
  std::vector<std::size_t> inputs;
  for (std::size_t i = 0; i < p.operands.size(); ++i)
    if (!p.operands[i].is_output) inputs.push_back(i);
  const auto target = inputs[std::size_t(rng.uniform_int(0, std::int64_t(inputs.size()) - 1))];
  const std::int64_t element = rng.uniform_int(0, tensors[target].numel() - 1);
  const double bad = rng.chance(0.5) ? std::numeric_limits<double>::quiet_NaN()
                                     : -std::numeric_limits<double>::infinity();
  tensors[target].set_linear(element, bad);
  auto reference = allocate(p, fc::DType::float32, false);
  copy_inputs(p, tensors, reference, false);
  fill_outputs_with_sentinel(p, tensors);
  fill_outputs_with_sentinel(p, reference);
  run(p, tensors, engine, p.api);
  run(p, reference, fc::Engine::reference);
  std::string report;
  for (std::size_t i = 0; i < p.operands.size(); ++i) {
    if (!p.operands[i].is_output) continue;
    const auto got = tensors[i].to_dense(), expected = reference[i].to_dense();
    std::int64_t differ = 0;
    for (std::size_t e = 0; e < got.size(); ++e)
      differ += (std::isnan(got[e]) != std::isnan(expected[e]) ||
                 (!std::isnan(got[e]) && got[e] != expected[e]))
                    ? 1
                    : 0;
    if (differ)
      report += "  " + p.operands[i].name + ": " + std::to_string(differ) +
                " elements differ from the reference (" + p.operands[target].name +
                " element " + std::to_string(element) + " = " + std::to_string(bad) + ")\n";
  }
  return report.empty() ? "" : p.describe() + "\n" + report + reproduce_hint(p.seed);
}

std::string decline_message(const Problem& p, fc::Engine engine, fc::DType dtype) {
  try {
    const fc::ConvPlan plan(conv_kind(p.op), shape_args(p, dtype), p.params, engine);
  } catch (const fc::Error& e) {
    EXPECT_EQ(e.kind(), fc::ErrorKind::engine_declined) << e.what();
    return e.what();
  }
  return "accepted";
}

void expect_forward_float32_only(fc::Engine engine, const Problem& forward) {
  EXPECT_EQ(decline_message(forward, engine), "accepted") << forward.describe();
  EXPECT_NE(decline_message(forward, engine, fc::DType::float64).find("float32 only"),
            std::string::npos);
  for (const Op op : {Op::transposed, Op::backward_data, Op::backward_weights}) {
    const Problem p = make_problem(op, 1, 3, 3, {9, 9}, {3, 3}, forward.params, false);
    EXPECT_NE(decline_message(p, engine).find("forward only"), std::string::npos) << op_name(op);
  }
}

std::string packed_weights_report(const Problem& p, fc::Engine engine, ValueMode mode,
                                  bool use_layouts) {
  Rng rng(p.seed);
  auto tensors = allocate(p, mode_dtype(mode), use_layouts);
  if (mode == ValueMode::int_f32)
    fill_int_inputs(p, tensors, rng, -3, 3);
  else
    fill_real_inputs(p, tensors, rng);
  fc::ConvArgs args = conv_args(p, tensors);
  fc::ConvPlan plan(fc::ConvKind::forward, args, p.params, engine);
  plan.run(args);
  const auto dst = std::size_t(p.find("dst"));
  const auto expected = tensors[dst].to_dense();
  plan.pack_weights(args.weight);
  if (!plan.has_packed_weights()) return p.describe() + "\n  no packed weights after pack_weights";
  fc::ConvArgs without = args;
  without.weight = {};
  tensors[dst].fill(-5);
  plan.run(without);
  const auto got = tensors[dst].to_dense();
  std::int64_t differ = 0;
  for (std::size_t e = 0; e < got.size(); ++e) differ += got[e] != expected[e] ? 1 : 0;
  if (differ == 0) return "";
  return p.describe() + "\n  dst: " + std::to_string(differ) +
         " elements differ between the packed-weights run and the first run";
}

std::vector<double> outputs_with_threads(const Problem& p, fc::Engine engine, int threads,
                                         std::uint64_t input_seed) {
  const int before = fc::get_num_threads();
  fc::set_num_threads(threads);
  Rng rng(input_seed);
  auto tensors = allocate(p, fc::DType::float32, false);
  fill_int_inputs(p, tensors, rng, -3, 3);
  run(p, tensors, engine);
  fc::set_num_threads(before);
  std::vector<double> outputs;
  for (std::size_t i = 0; i < p.operands.size(); ++i)
    if (p.operands[i].is_output) {
      const auto values = tensors[i].to_dense();
      outputs.insert(outputs.end(), values.begin(), values.end());
    }
  return outputs;
}

}  // namespace fctest
