// int_division.hpp — signed integer division rounding down or up (C++'s `/` truncates toward
// zero), for positions and paddings that may be negative. The divisor must be positive.
#pragma once

#include <cstdint>

namespace fastconv::detail {

inline std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return -floor_div(-a, b); }

}  // namespace fastconv::detail
