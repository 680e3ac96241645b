// depthwise_rows.hpp — the row loops of the depthwise engine, bounds-free: callers pass only
// the part of a row that lies inside the image. Unit-step cases have their own loops so the
// compiler vectorises them; other steps (channels-last, stride > 1, cropped views) are plain
// strided loops. Each loop sums in a fixed order.
#pragma once

#include <cmath>
#include <cstdint>

namespace fastconv::detail {

// acc[j] += weight * src[j * src_step] for j < count (forward: one kernel tap over a row).
template <typename T>
inline void multiply_accumulate_row(T* __restrict acc, const T* __restrict src, std::int64_t src_step,
                                    T weight, std::int64_t count) {
  if (src_step == 1) {
    for (std::int64_t j = 0; j < count; ++j) acc[j] += weight * src[j];
  } else {
    for (std::int64_t j = 0; j < count; ++j) acc[j] += weight * src[j * src_step];
  }
}

// acc[j * acc_step] += weight * src[j * src_step] for j < count (backward_data: one tap
// scattered into an input row).
template <typename T>
inline void scatter_accumulate_row(T* __restrict acc, std::int64_t acc_step, const T* __restrict src,
                                   std::int64_t src_step, T weight, std::int64_t count) {
  if (acc_step == 1 && src_step == 1) {
    for (std::int64_t j = 0; j < count; ++j) acc[j] += weight * src[j];
  } else {
    for (std::int64_t j = 0; j < count; ++j) acc[j * acc_step] += weight * src[j * src_step];
  }
}

// dst[j * dst_step] = values[j] for j < count.
template <typename T>
inline void store_row(T* __restrict dst, std::int64_t dst_step, const T* __restrict values,
                      std::int64_t count) {
  if (dst_step == 1) {
    for (std::int64_t j = 0; j < count; ++j) dst[j] = values[j];
  } else {
    for (std::int64_t j = 0; j < count; ++j) dst[j * dst_step] = values[j];
  }
}

// sum over j < count of a[j * a_step] * b[j * b_step], in kLanes interleaved partial sums
// combined in a fixed order (so the compiler may vectorise without reassociating).
template <typename T>
inline T dot_row(const T* a, std::int64_t a_step, const T* b, std::int64_t b_step,
                 std::int64_t count) {
  constexpr int kLanes = 8;
  T partial[kLanes] = {};
  std::int64_t j = 0;
  if (a_step == 1 && b_step == 1) {
    for (; j + kLanes <= count; j += kLanes)
      for (int lane = 0; lane < kLanes; ++lane) partial[lane] += a[j + lane] * b[j + lane];
  }
  for (; j < count; ++j) partial[j % kLanes] += a[j * a_step] * b[j * b_step];
  T sum = T(0);
  for (int lane = 0; lane < kLanes; ++lane) sum += partial[lane];
  return sum;
}

// Whether any of values[j * step], begin <= j < end, is infinite or NaN.
template <typename T>
inline bool any_non_finite(const T* values, std::int64_t step, std::int64_t begin, std::int64_t end) {
  bool found = false;
  for (std::int64_t j = begin; j < end; ++j) found |= !std::isfinite(values[j * step]);
  return found;
}

}  // namespace fastconv::detail
