// reference_inner_op.cpp — the reference engine for inner operations other than the convolution
// (fastconv/inner_op.hpp): straight from the definition, in double, every direction.
//
// forward:          y = REDUCE over (c, t) of combine(x or pad, w), out = epilogue(y, b).
// backward_data:    dL/dx[i] = sum over the (k, o, c, t) that read x[i] of
//                   dL/dy[k, o] * s(k, o, r) * combine_dx(x[i], w[k, c, t]),
// backward_weights: dL/dw[k, c, t] = sum over (n, o) of dL/dy * s * combine_dw(x or pad, w),
//                   dL/db[k] = sum over (n, o) of dL/dout * epilogue_db(y, b),
// with dL/dy = dL/dout * epilogue_dy(y, b) and s = 1 (sum), exp(z - y) (logsumexp), or 1 for the
// first r = (c, t) in order with the extreme z and 0 for the others (max, min). Padded positions
// take part with x = pad (their combine depends on w) but have no dL/dx. Sums are in double;
// max and min compare the combined values rounded to the operands' dtype, as the engines do.
#include "engines/reference/reference_inner_op.hpp"

#include <cmath>
#include <vector>

#include "core/parallel.hpp"
#include "core/profile.hpp"
#include "engines/inner_op_math.hpp"

namespace fastconv::detail {
namespace {

// The problem's loops, with the input position of each tap resolved.
struct Walker {
  const ConvGeometry& g;
  std::int64_t cg, kg, taps;

  explicit Walker(const ConvGeometry& geometry)
      : g(geometry), cg(geometry.in_channels_per_group()), kg(geometry.out_channels_per_group()),
        taps(geometry.kernel_volume()) {}
  std::int64_t outputs() const { return g.out_pixels(); }
  // Output o (flat) -> (od, oh, ow); tap t (flat) -> (kd, kh, kw); their input position, or
  // false when it lies in the padding.
  bool input_of(std::int64_t o, std::int64_t t, std::int64_t (&i)[3]) const {
    const std::int64_t out_index[3] = {o / (g.out[1] * g.out[2]), o / g.out[2] % g.out[1], o % g.out[2]};
    const std::int64_t tap_index[3] = {t / (g.kernel[1] * g.kernel[2]), t / g.kernel[2] % g.kernel[1],
                                       t % g.kernel[2]};
    bool in_image = true;
    for (int a = 0; a < 3; ++a) {
      i[a] = out_index[a] * g.stride[a] - g.pad_begin[a] + tap_index[a] * g.dilation[a];
      in_image = in_image && i[a] >= 0 && i[a] < g.in[a];
    }
    return in_image;
  }
  std::int64_t kd(std::int64_t t) const { return t / (g.kernel[1] * g.kernel[2]); }
  std::int64_t kh(std::int64_t t) const { return t / g.kernel[2] % g.kernel[1]; }
  std::int64_t kw(std::int64_t t) const { return t % g.kernel[2]; }
};

// The combined values z[r], r = c * taps + t, of output (n, k, o), with x read from `src`.
template <typename T>
void window_values(const Walker& walk, const InnerOp& op, const OpParams& params, const View5<T>& src,
                   const View5<T>& weight, std::int64_t n, std::int64_t k, std::int64_t o, std::vector<double>& x,
                   std::vector<double>& z) {
  const std::int64_t c0 = k / walk.kg * walk.cg;
  for (std::int64_t c = 0; c < walk.cg; ++c)
    for (std::int64_t t = 0; t < walk.taps; ++t) {
      std::int64_t i[3];
      const double value = walk.input_of(o, t, i) ? double(src.at(n, c0 + c, i[0], i[1], i[2])) : op.pad_value();
      const double w = double(weight.at(k, c, walk.kd(t), walk.kh(t), walk.kw(t)));
      x[std::size_t(c * walk.taps + t)] = value;
      const double combined = op.table().combine(value, w, params.values.data());
      // max and min pick among the values rounded to T, as the engines compute them (float32
      // rounding can tie or reorder close values, and the gradient goes to the first extreme).
      const bool extreme = op.reduce() == Reduce::max || op.reduce() == Reduce::min;
      z[std::size_t(c * walk.taps + t)] = extreme ? double(T(combined)) : combined;
    }
}

// y = REDUCE of z; *extreme = the index of the first extreme value (max, min, and logsumexp's
// max): the first NaN if there is one, else the first largest (smallest) value.
double reduce_values(Reduce reduce, const std::vector<double>& z, std::int64_t* extreme) {
  if (z.empty()) {
    if (extreme) *extreme = -1;
    return reduce_identity(reduce);
  }
  if (reduce == Reduce::sum) {
    double sum = 0.0;
    for (const double value : z) sum += value;
    return sum;
  }
  std::size_t index = 0;
  for (std::size_t r = 1; r < z.size(); ++r) {
    const double best = z[index];
    const bool better = std::isnan(z[r]) ? !std::isnan(best)
                                         : !std::isnan(best) && (reduce == Reduce::min ? z[r] < best : z[r] > best);
    if (better) index = r;
  }
  if (extreme) *extreme = std::int64_t(index);
  if (reduce != Reduce::logsumexp) return z[index];
  const double shift = finite_or_zero(z[index]);
  double sum = 0.0;
  for (const double value : z) sum += std::exp(value - shift);
  return shift + std::log(sum);
}

// For every output (n, k, o): the reduced y and, for max / min, the extreme index.
template <typename T>
void reduce_all(const Walker& walk, const InnerOp& op, const OpParams& params, const View5<T>& src,
                const View5<T>& weight, int threads, std::vector<double>& y, std::vector<std::int64_t>& extreme) {
  const ConvGeometry& g = walk.g;
  const std::int64_t outputs = walk.outputs();
  y.assign(std::size_t(g.batch * g.out_channels * outputs), 0.0);
  extreme.assign(y.size(), -1);
#pragma omp parallel for collapse(2) schedule(dynamic) num_threads(threads_for_work(g.multiply_adds(), threads))
  for (std::int64_t n = 0; n < g.batch; ++n)
    for (std::int64_t k = 0; k < g.out_channels; ++k) {
      const ProfileScope scope(Phase::microkernel);
      std::vector<double> x(std::size_t(walk.cg * walk.taps)), z(x.size());
      for (std::int64_t o = 0; o < outputs; ++o) {
        window_values(walk, op, params, src, weight, n, k, o, x, z);
        const std::size_t at = std::size_t((n * g.out_channels + k) * outputs + o);
        y[at] = reduce_values(op.reduce(), z, &extreme[at]);
      }
    }
}

// The weight s of term r of output (n, k, o) in the gradient (see the file comment).
double term_weight(Reduce reduce, double z, double y, std::int64_t r, std::int64_t extreme) {
  switch (reduce) {
    case Reduce::sum: return 1.0;
    case Reduce::logsumexp: return std::exp(z - y);
    case Reduce::max:
    case Reduce::min: return r == extreme ? 1.0 : 0.0;
  }
  return 1.0;
}

template <typename T>
double bias_of(const Vector1<T>& bias, std::int64_t k) {
  return bias.data ? double(bias[k]) : 0.0;
}

// The element of a rank-5 view at flat output index o of image n, channel k.
template <typename T>
T& at_output(const ConvGeometry& g, const View5<T>& view, std::int64_t n, std::int64_t k, std::int64_t o) {
  return view.at(n, k, o / (g.out[1] * g.out[2]), o / g.out[2] % g.out[1], o % g.out[2]);
}

}  // namespace

template <typename T>
void reference_op_forward(const ConvGeometry& g, const InnerOp& op, const ConvOperands<T>& x, int threads) {
  const Walker walk(g);
  const OpParams params(op);
  const std::int64_t outputs = walk.outputs();
#pragma omp parallel for collapse(2) schedule(dynamic) num_threads(threads_for_work(g.multiply_adds(), threads))
  for (std::int64_t n = 0; n < g.batch; ++n)
    for (std::int64_t k = 0; k < g.out_channels; ++k) {
      const ProfileScope scope(Phase::microkernel);
      std::vector<double> inputs(std::size_t(walk.cg * walk.taps)), z(inputs.size());
      for (std::int64_t o = 0; o < outputs; ++o) {
        window_values(walk, op, params, x.src, x.weight, n, k, o, inputs, z);
        const double y = reduce_values(op.reduce(), z, nullptr);
        at_output(g, x.dst, n, k, o) = T(epilogue_value(op, params, y, bias_of(x.bias, k)));
      }
    }
}

template <typename T>
void reference_op_backward_data(const ConvGeometry& g, const InnerOp& op, const ConvOperands<T>& x, int threads) {
  const Walker walk(g);
  const OpParams params(op);
  const custom::OpTable& derivatives = op.derivative_table();
  const View5<T>& src = x.forward.src;
  std::vector<double> y;
  std::vector<std::int64_t> extreme;
  reduce_all(walk, op, params, src, x.weight, threads, y, extreme);
  const std::int64_t outputs = walk.outputs();
#pragma omp parallel for collapse(2) schedule(dynamic) num_threads(threads_for_work(g.multiply_adds(), threads))
  for (std::int64_t n = 0; n < g.batch; ++n)
    for (std::int64_t c_all = 0; c_all < g.in_channels; ++c_all) {
      const ProfileScope scope(Phase::microkernel);
      const std::int64_t group = c_all / walk.cg, c = c_all % walk.cg;
      std::vector<double> dx(std::size_t(g.in_pixels()), 0.0);
      for (std::int64_t k = group * walk.kg; k < (group + 1) * walk.kg; ++k)
        for (std::int64_t o = 0; o < outputs; ++o) {
          const std::size_t at = std::size_t((n * g.out_channels + k) * outputs + o);
          const double b = bias_of(x.forward.bias, k);
          const double dy = double(at_output(g, x.dst, n, k, o)) * epilogue_dy(op, params, y[at], b);
          for (std::int64_t t = 0; t < walk.taps; ++t) {
            std::int64_t i[3];
            if (!walk.input_of(o, t, i)) continue;
            const double value = double(src.at(n, c_all, i[0], i[1], i[2]));
            const double w = double(x.weight.at(k, c, walk.kd(t), walk.kh(t), walk.kw(t)));
            const double s = term_weight(op.reduce(), op.table().combine(value, w, params.values.data()), y[at],
                                         c * walk.taps + t, extreme[at]);
            if (s == 0.0) continue;
            dx[std::size_t((i[0] * g.in[1] + i[1]) * g.in[2] + i[2])] +=
                dy * s * derivatives.combine_dx(value, w, params.values.data());
          }
        }
      for (std::int64_t p = 0; p < g.in_pixels(); ++p)
        x.src.at(n, c_all, p / (g.in[1] * g.in[2]), p / g.in[2] % g.in[1], p % g.in[2]) = T(dx[std::size_t(p)]);
    }
}

template <typename T>
void reference_op_backward_weights(const ConvGeometry& g, const InnerOp& op, const ConvOperands<T>& x, int threads) {
  const Walker walk(g);
  const OpParams params(op);
  const custom::OpTable& derivatives = op.derivative_table();
  const View5<T>& weight = x.forward.weight;
  std::vector<double> y;
  std::vector<std::int64_t> extreme;
  reduce_all(walk, op, params, x.src, weight, threads, y, extreme);
  const std::int64_t outputs = walk.outputs();
#pragma omp parallel for schedule(dynamic) num_threads(threads_for_work(g.multiply_adds(), threads))
  for (std::int64_t k = 0; k < g.out_channels; ++k) {
    const ProfileScope scope(Phase::microkernel);
    const std::int64_t c0 = k / walk.kg * walk.cg;
    std::vector<double> dw(std::size_t(walk.cg * walk.taps), 0.0);
    double db = 0.0;
    const double b = bias_of(x.forward.bias, k);
    for (std::int64_t n = 0; n < g.batch; ++n)
      for (std::int64_t o = 0; o < outputs; ++o) {
        const std::size_t at = std::size_t((n * g.out_channels + k) * outputs + o);
        const double dout = double(at_output(g, x.dst, n, k, o));
        db += dout * epilogue_db(op, params, y[at], b);
        const double dy = dout * epilogue_dy(op, params, y[at], b);
        for (std::int64_t c = 0; c < walk.cg; ++c)
          for (std::int64_t t = 0; t < walk.taps; ++t) {
            std::int64_t i[3];
            const double value = walk.input_of(o, t, i) ? double(x.src.at(n, c0 + c, i[0], i[1], i[2])) : op.pad_value();
            const double w = double(weight.at(k, c, walk.kd(t), walk.kh(t), walk.kw(t)));
            const double s = term_weight(op.reduce(), op.table().combine(value, w, params.values.data()), y[at],
                                         c * walk.taps + t, extreme[at]);
            if (s != 0.0) dw[std::size_t(c * walk.taps + t)] += dy * s * derivatives.combine_dw(value, w, params.values.data());
          }
      }
    for (std::int64_t c = 0; c < walk.cg; ++c)
      for (std::int64_t t = 0; t < walk.taps; ++t)
        x.weight.at(k, c, walk.kd(t), walk.kh(t), walk.kw(t)) = T(dw[std::size_t(c * walk.taps + t)]);
    if (x.bias.data) x.bias[k] = T(db);
  }
}

#define FASTCONV_INSTANTIATE_REFERENCE_OP(T)                                                          \
  template void reference_op_forward<T>(const ConvGeometry&, const InnerOp&, const ConvOperands<T>&, int); \
  template void reference_op_backward_data<T>(const ConvGeometry&, const InnerOp&, const ConvOperands<T>&, int); \
  template void reference_op_backward_weights<T>(const ConvGeometry&, const InnerOp&, const ConvOperands<T>&, int);
FASTCONV_INSTANTIATE_REFERENCE_OP(float)
FASTCONV_INSTANTIATE_REFERENCE_OP(double)

}  // namespace fastconv::detail
