// tests/support/engine_checks.hpp — checks shared by the specialised engines' test programs
// (depthwise, few_channels, implicit_gemm, pointwise), with the engine as an argument: the
// seeded-problem loop, NaN/Inf patterns against the reference, decline messages, packed
// weights, and the outputs of a run at a given thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/check.hpp"
#include "support/problem.hpp"

namespace fctest {

// How many failing problems a seeded loop prints in full.
inline constexpr int kMaxReportedFailures = 5;

// Runs `check` on make(seed) for every seed of test_seeds(count). A non-empty report is a
// failing problem: the first kMaxReportedFailures are added as failures with their report, and
// the test expects none ("<label>: N of M problems failed" otherwise; no prefix if label is "").
void expect_no_failed_problems(int count, const std::function<Problem(std::uint64_t)>& make,
                               const std::function<std::string(const Problem&)>& check,
                               const std::string& label = "");

// Counts p's features into `seen`, for the tests that a generator covers what is claimed:
// "dims=<d>", "batch=1" or "batch>1", "bias", per axis "stride>kernel", "dilation",
// "asymmetric padding" and "wide row" (input extent > 256), and "layout=<name>" per operand
// of rank > 1.
void count_problem_features(const Problem& p, std::map<std::string, int>& seen);

// Puts one NaN or -Inf into a random element of a random input (weights included, so padded
// taps meet it; drawn from mix_seed(p.seed, 0x1AF), other inputs integer-valued -3..3) and runs
// `p` on `engine` (random layouts, p.api) and on the reference (contiguous). "" if every output
// is NaN exactly where the reference's is and equal elsewhere, else a report with the problem
// and how to reproduce it.
std::string non_finite_report(const Problem& p, fastconv::Engine engine);

// The message of the engine_declined error with which `engine` refuses to plan `p` (shapes
// only, every operand of `dtype`); "accepted" if it plans it. A different error kind adds a
// test failure.
std::string decline_message(const Problem& p, fastconv::Engine engine,
                            fastconv::DType dtype = fastconv::DType::float32);

// For an engine that takes forward float32 problems only: expects it to accept `forward` (a
// forward problem it takes), to decline it in float64 with "float32 only", and to decline the
// other directions (a 3 -> 3 channel 9x9 problem, 3x3 kernel, with forward's params) with
// "forward only".
void expect_forward_float32_only(fastconv::Engine engine, const Problem& forward);

// For a FORWARD problem: runs a plan of `engine` on inputs from Rng(p.seed) (integer-valued
// -3..3 for ValueMode::int_f32, real otherwise; operand layouts used if `use_layouts`), then
// ConvPlan::pack_weights and a run without the weight. "" if the plan then has packed weights
// and dst is identical to the first run's, else a report.
std::string packed_weights_report(const Problem& p, fastconv::Engine engine, ValueMode mode,
                                  bool use_layouts);

// Runs `p` on `engine` with `threads` threads (the thread count is restored afterwards),
// contiguous float32 operands and integer-valued inputs (-3..3) from Rng(input_seed); returns
// the values of every output, dense, concatenated in operand order.
std::vector<double> outputs_with_threads(const Problem& p, fastconv::Engine engine, int threads,
                                         std::uint64_t input_seed);

}  // namespace fctest
