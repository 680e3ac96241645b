// tests/support/naive.hpp — a second, independent oracle written from the definitions.
//
// Plain loops over dense row-major double arrays, written without looking at the library's
// reference engine, so the reference engine itself is checked. Every problem is handled in a
// canonical 3-D form (missing leading spatial axes have size 1), which leaves row-major
// memory unchanged.
#pragma once

#include <vector>

#include "support/problem.hpp"

namespace fctest {

// `inputs` are the dense values of the problem's input operands, in operand order; the result
// has the dense values of its output operands, in operand order. `padding_value` is the value
// of the padded border that forward, backward_weights and unfold read (0 for convolution; the
// NaN tests use 1 to find every output a padded tap touches).
std::vector<std::vector<double>> naive_run(const Problem& problem,
                                           const std::vector<std::vector<double>>& inputs,
                                           double padding_value = 0.0);

}  // namespace fctest
