// degenerate_runs.cpp — see degenerate_runs.hpp.
#include "plan/degenerate_runs.hpp"

namespace fastconv::detail {
namespace {

// Every element (n, c, ...) of `view` set to bias[c], or to zero when there is no bias.
template <typename T>
void fill_with_bias(const View5<T>& view, const Vector1<T>& bias) {
  for (std::int64_t i0 = 0; i0 < view.shape[0]; ++i0)
    for (std::int64_t i1 = 0; i1 < view.shape[1]; ++i1) {
      const T value = bias.data ? bias[i1] : T(0);
      for (std::int64_t i2 = 0; i2 < view.shape[2]; ++i2)
        for (std::int64_t i3 = 0; i3 < view.shape[3]; ++i3)
          for (std::int64_t i4 = 0; i4 < view.shape[4]; ++i4) view.at(i0, i1, i2, i3, i4) = value;
    }
}

// bias[k] = sum of dst(n, k, ...) over n and space (double accumulation, as the reference).
template <typename T>
void sum_into_bias(const View5<T>& dst, const Vector1<T>& bias) {
  for (std::int64_t k = 0; k < dst.shape[1]; ++k) {
    double sum = 0.0;
    for (std::int64_t n = 0; n < dst.shape[0]; ++n)
      for (std::int64_t i2 = 0; i2 < dst.shape[2]; ++i2)
        for (std::int64_t i3 = 0; i3 < dst.shape[3]; ++i3)
          for (std::int64_t i4 = 0; i4 < dst.shape[4]; ++i4) sum += double(dst.at(n, k, i2, i3, i4));
    bias[k] = T(sum);
  }
}

}  // namespace

bool is_degenerate(const ConvGeometry& geometry) {
  return geometry.batch == 0 || geometry.in_channels == 0 || geometry.out_channels == 0;
}

template <typename T>
bool run_if_degenerate(Direction direction, const ConvGeometry& geometry,
                       const ConvOperands<T>& operands) {
  if (!is_degenerate(geometry)) return false;
  switch (direction) {
    case Direction::forward:
      fill_with_bias(operands.dst, operands.bias);
      break;
    case Direction::backward_data:
      fill_with_bias(operands.src, operands.bias);
      break;
    case Direction::backward_weights:
      fill_with_bias(operands.weight, Vector1<T>{});
      if (operands.bias.data) sum_into_bias(operands.dst, operands.bias);
      break;
  }
  return true;
}

template bool run_if_degenerate<float>(Direction, const ConvGeometry&, const ConvOperands<float>&);
template bool run_if_degenerate<double>(Direction, const ConvGeometry&, const ConvOperands<double>&);

}  // namespace fastconv::detail
