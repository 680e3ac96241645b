// tests/support/check.hpp — comparing an engine's results with an oracle.
//
// Two value modes, as benchdnn does: integer-valued float32 inputs (-3..3), where every sum is
// an exactly representable integer so results must be identical; and real inputs in [-1, 1]
// (float32 or float64), where an element may differ from the oracle by at most
//   2 * (L + 2) * u * sum(|terms|)
// with L the reduction length (number of products summed into the element), u the unit
// roundoff of the dtype, and sum(|terms|) computed exactly enough by running the reference in
// float64 on |operands|. That is the classic worst-case bound for any summation order plus the
// final rounding of the oracle, with a factor 2 of headroom.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "support/problem.hpp"
#include "support/tensor.hpp"

namespace fctest {

enum class ValueMode { int_f32, real_f32, real_f64 };
inline constexpr ValueMode kAllValueModes[] = {ValueMode::int_f32, ValueMode::real_f32,
                                               ValueMode::real_f64};
const char* mode_name(ValueMode mode);
fastconv::DType mode_dtype(ValueMode mode);

// Compares one output; "" if it matches, else a report of the first mismatches.
// magnitude == nullptr (or L == 0) demands exact equality.
std::string compare_values(const std::string& what, const std::vector<std::int64_t>& shape,
                           const std::vector<double>& got, const std::vector<double>& expected,
                           const std::vector<double>* magnitude, std::int64_t reduction_length,
                           double unit_roundoff);

// Runs `problem` on `engine` with random operand layouts and on the reference engine with
// contiguous operands, and compares; also checks that inputs are not written and that the
// gaps of non-contiguous outputs keep their sentinel. "" if all is well, else a report that
// includes the problem description and how to reproduce it.
//
// For engines whose rounding is not that of a direct sum (Winograd), `options` widen the real-
// input bound: `magnitude_weight` rewrites the |weight| copy (forward roles, contiguous) before
// the float64 magnitude run, and `error_factor` multiplies the bound.
struct CheckOptions {
  std::function<void(Tensor& absolute_weight)> magnitude_weight;
  double error_factor = 1.0;
};
std::string check_engine_against_reference(const Problem& problem, fastconv::Engine engine,
                                           ValueMode mode, const CheckOptions& options = {});

// Runs the reference engine (with the problem's layouts) against the independent naive oracle.
std::string check_reference_against_naive(const Problem& problem, ValueMode mode);

}  // namespace fctest
