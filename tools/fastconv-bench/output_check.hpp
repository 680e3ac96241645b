// output_check.hpp — does a peer's convolution result agree with fastconv's?
//
// The outputs agree when every element satisfies |actual - expected| <= tolerance, with
//   tolerance = 4 * FLT_EPSILON * reduction_length * max(1, max |expected|),
// a bound that grows with the number of products summed per output (C/groups * kernel volume),
// since float32 sums in a different order differ by rounding. NaN or Inf anywhere in `actual`
// that is not at the same place in `expected` is a mismatch.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace fastconv_bench {

struct OutputComparison {
  bool match = false;
  double max_abs_error = 0.0;
  double tolerance = 0.0;
  std::string message;  // for a mismatch: where and by how much
};

OutputComparison compare_outputs(std::span<const float> expected, std::span<const float> actual,
                                 std::int64_t reduction_length);

}  // namespace fastconv_bench
