// output_check.cpp — the element-wise comparison of two convolution outputs.
#include "output_check.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <sstream>

namespace fastconv_bench {

OutputComparison compare_outputs(std::span<const float> expected, std::span<const float> actual,
                                 std::int64_t reduction_length) {
  OutputComparison result;
  if (expected.size() != actual.size()) {
    result.message = "output sizes differ";
    return result;
  }
  double scale = 1.0;
  for (float value : expected) {
    if (std::isfinite(value)) scale = std::max(scale, double(std::abs(value)));
  }
  result.tolerance = 4.0 * FLT_EPSILON * double(std::max<std::int64_t>(reduction_length, 1)) * scale;

  std::size_t worst = 0;
  bool non_finite = false;
  for (std::size_t index = 0; index < expected.size(); ++index) {
    const double want = expected[index];
    const double got = actual[index];
    if (!std::isfinite(got) || !std::isfinite(want)) {
      const bool same = (std::isnan(got) && std::isnan(want)) || got == want;
      if (!same && !non_finite) {
        non_finite = true;
        worst = index;
      }
      continue;
    }
    const double error = std::abs(got - want);
    if (error > result.max_abs_error && !non_finite) worst = index;
    result.max_abs_error = std::max(result.max_abs_error, error);
  }
  result.match = !non_finite && result.max_abs_error <= result.tolerance;
  if (!result.match) {
    std::ostringstream message;
    message << "result differs from fastconv's at element " << worst << ": " << actual[worst]
            << " vs " << expected[worst] << " (max |error| " << result.max_abs_error
            << ", tolerance " << result.tolerance << ")";
    result.message = message.str();
  }
  return result;
}

}  // namespace fastconv_bench
