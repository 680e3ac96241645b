// test_inner_ops.cpp — custom convolutions (fastconv/inner_op.hpp): the reference engine
// against this file's own naive loops, its gradients against finite differences (float64) and
// the routing rule of max/min, and every engine that takes an operation against the reference.
//
// The naive definitions here are written from the operations' documentation, independently of
// the library's catalog functors. Problems are the shared random generator's (1-D/2-D/3-D, odd
// sizes, groups, depthwise, stride > kernel, dilation, asymmetric padding, random layouts).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <tuple>
#include <memory>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/problem.hpp"

namespace fc = fastconv;
using fctest::Op;
using fctest::Problem;
using fctest::Tensor;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct NaiveOp {
  fc::Reduce reduce;
  std::function<double(double, double)> combine, dx, dw;
};

double sign(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }

const std::map<std::string, NaiveOp>& naive_ops() {
  static const std::map<std::string, NaiveOp> ops = {
      {"mul_sum", {fc::Reduce::sum, [](double x, double w) { return x * w; }, [](double, double w) { return w; },
                   [](double x, double) { return x; }}},
      {"abs_diff_sum", {fc::Reduce::sum, [](double x, double w) { return -std::abs(x - w); },
                        [](double x, double w) { return -sign(x - w); }, [](double x, double w) { return sign(x - w); }}},
      {"abs_diff_sum_adder", {fc::Reduce::sum, [](double x, double w) { return -std::abs(x - w); },
                              [](double x, double w) { return std::clamp(w - x, -1.0, 1.0); },
                              [](double x, double w) { return x - w; }}},
      {"sq_diff_sum", {fc::Reduce::sum, [](double x, double w) { return (x - w) * (x - w); },
                       [](double x, double w) { return 2 * (x - w); }, [](double x, double w) { return 2 * (w - x); }}},
      {"add_max", {fc::Reduce::max, [](double x, double w) { return x + w; }, [](double, double) { return 1.0; },
                   [](double, double) { return 1.0; }}},
      {"sub_min", {fc::Reduce::min, [](double x, double w) { return x - w; }, [](double, double) { return 1.0; },
                   [](double, double) { return -1.0; }}},
      {"mul_max", {fc::Reduce::max, [](double x, double w) { return x * w; }, [](double, double w) { return w; },
                   [](double x, double) { return x; }}},
      {"mul_logsumexp", {fc::Reduce::logsumexp, [](double x, double w) { return x * w; },
                         [](double, double w) { return w; }, [](double x, double) { return x; }}},
  };
  return ops;
}

struct Epilogue {
  const char* name;
  std::vector<double> params;
  std::function<double(double, double)> value, dy, db;
};
std::vector<Epilogue> epilogues() {
  const auto one = [](double, double) { return 1.0; };
  const auto step = [](double y, double b) { return y + b > 0 ? 1.0 : 0.0; };
  return {{"bias", {}, [](double y, double b) { return y + b; }, one, one},
          {"relu", {}, [](double y, double b) { return y + b < 0 ? 0.0 : y + b; }, step, step},
          {"gaussian", {0.25}, [](double y, double b) { return std::exp(-0.25 * y) + b; },
           [](double y, double) { return -0.25 * std::exp(-0.25 * y); }, one},
          {"polynomial", {1.5, 2.0}, [](double y, double b) { return std::pow(y + 1.5, 2.0) + b; },
           [](double y, double) { return 2.0 * (y + 1.5); }, one}};
}

fc::InnerOp make_op(const std::string& name, const Epilogue& epilogue, double pad) {
  fc::InnerOp op = fc::InnerOp::catalog(name);
  if (epilogue.params.size() == 1) {
    op.epilogue(epilogue.name, {epilogue.params[0]});
  } else if (epilogue.params.size() == 2) {
    op.epilogue(epilogue.name, {epilogue.params[0], epilogue.params[1]});
  } else {
    op.epilogue(epilogue.name);
  }
  op.pad_value(pad);
  return op;
}

// Canonical 3-D geometry of a forward problem.
struct Geometry {
  std::int64_t N, C, K, G;
  std::int64_t in[3], kernel[3], out[3], stride[3], dilation[3], pad[3];
};
Geometry geometry_of(const Problem& p) {
  Geometry g{p.batch, p.in_channels, p.out_channels, p.groups, {}, {}, {}, {}, {}, {}};
  const int shift = 3 - p.spatial_dims;
  for (int a = 0; a < 3; ++a) g.in[a] = g.kernel[a] = g.out[a] = g.stride[a] = g.dilation[a] = 1, g.pad[a] = 0;
  for (int i = 0; i < p.spatial_dims; ++i) {
    g.in[i + shift] = p.input_spatial[std::size_t(i)];
    g.kernel[i + shift] = p.kernel[std::size_t(i)];
    g.out[i + shift] = p.output_spatial[std::size_t(i)];
    g.stride[i + shift] = p.params.strides[i];
    g.dilation[i + shift] = p.params.dilations[i];
    g.pad[i + shift] = p.params.pad_begin[i];
  }
  return g;
}

// Logical index of (n, c, position) in a tensor of the problem's rank.
std::vector<std::int64_t> index_of(const Problem& p, std::int64_t n, std::int64_t c, const std::int64_t (&x)[3]) {
  std::vector<std::int64_t> index{n, c};
  for (int i = 3 - p.spatial_dims; i < 3; ++i) index.push_back(x[i]);
  return index;
}

// Calls f(n, k, flat output, z values, their input indices (or empty for padding), weight
// indices) for every output of the problem.
template <typename F>
void for_each_output(const Problem& p, const NaiveOp& op, double pad, const Tensor& src, const Tensor& weight, F&& f) {
  const Geometry g = geometry_of(p);
  const std::int64_t cg = g.C / g.G, kg = g.K / g.G;
  std::int64_t flat = 0;
  for (std::int64_t n = 0; n < g.N; ++n)
    for (std::int64_t k = 0; k < g.K; ++k) {
      std::int64_t o[3];
      for (o[0] = 0; o[0] < g.out[0]; ++o[0])
        for (o[1] = 0; o[1] < g.out[1]; ++o[1])
          for (o[2] = 0; o[2] < g.out[2]; ++o[2], ++flat) {
            std::vector<double> z;
            std::vector<std::vector<std::int64_t>> inputs, weights;
            for (std::int64_t c = 0; c < cg; ++c) {
              std::int64_t t[3];
              for (t[0] = 0; t[0] < g.kernel[0]; ++t[0])
                for (t[1] = 0; t[1] < g.kernel[1]; ++t[1])
                  for (t[2] = 0; t[2] < g.kernel[2]; ++t[2]) {
                    std::int64_t x[3];
                    bool inside = true;
                    for (int a = 0; a < 3; ++a) {
                      x[a] = o[a] * g.stride[a] - g.pad[a] + t[a] * g.dilation[a];
                      inside = inside && x[a] >= 0 && x[a] < g.in[a];
                    }
                    inputs.push_back(inside ? index_of(p, n, k / kg * cg + c, x) : std::vector<std::int64_t>{});
                    weights.push_back(index_of(p, k, c, t));
                    const double value = inside ? src.get(inputs.back()) : pad;
                    z.push_back(op.combine(value, weight.get(weights.back())));
                  }
            }
            f(n, k, flat, z, inputs, weights);
          }
    }
}

// y of z under the reduction, and the index of the first extreme (max, min; NaN wins).
double naive_reduce(fc::Reduce reduce, const std::vector<double>& z, std::size_t* extreme) {
  if (reduce == fc::Reduce::sum) {
    double y = 0;
    for (const double v : z) y += v;
    return y;
  }
  if (z.empty()) return reduce == fc::Reduce::min ? kInf : -kInf;
  std::size_t best = 0;
  for (std::size_t r = 1; r < z.size(); ++r) {
    if (std::isnan(z[best])) break;
    if (std::isnan(z[r]) || (reduce == fc::Reduce::min ? z[r] < z[best] : z[r] > z[best])) best = r;
  }
  if (extreme) *extreme = best;
  if (reduce != fc::Reduce::logsumexp) return z[best];
  const double shift = std::isfinite(z[best]) ? z[best] : 0.0;
  double sum = 0;
  for (const double v : z) sum += std::exp(v - shift);
  return shift + std::log(sum);
}

// The naive forward: out as a flat vector (N, K, out...).
std::vector<double> naive_forward(const Problem& p, const NaiveOp& op, const Epilogue& epilogue, double pad,
                                  const Tensor& src, const Tensor& weight, const Tensor* bias) {
  std::vector<double> out;
  for_each_output(p, op, pad, src, weight, [&](std::int64_t, std::int64_t k, std::int64_t, const std::vector<double>& z,
                                               const auto&, const auto&) {
    const double b = bias ? bias->get(std::vector<std::int64_t>{k}) : 0.0;
    out.push_back(epilogue.value(naive_reduce(op.reduce, z, nullptr), b));
  });
  return out;
}

// The naive gradients for dL/dout = g: dx, dw, db accumulated into tensors of the operands'
// shapes (dense, float64).
struct Gradients {
  Tensor dx, dw, db;
};
Gradients naive_gradients(const Problem& p, const NaiveOp& op, const Epilogue& epilogue, double pad, const Tensor& src,
                          const Tensor& weight, const Tensor* bias, const std::vector<double>& g) {
  Gradients r{Tensor(fc::DType::float64, src.shape()), Tensor(fc::DType::float64, weight.shape()),
              Tensor(fc::DType::float64, {p.out_channels})};
  r.dx.fill(0), r.dw.fill(0), r.db.fill(0);
  for_each_output(p, op, pad, src, weight, [&](std::int64_t, std::int64_t k, std::int64_t flat,
                                               const std::vector<double>& z, const auto& inputs, const auto& weights) {
    std::size_t extreme = 0;
    const double y = naive_reduce(op.reduce, z, &extreme);
    const double b = bias ? bias->get(std::vector<std::int64_t>{k}) : 0.0;
    const double dout = g[std::size_t(flat)];
    r.db.set(std::vector<std::int64_t>{k}, r.db.get(std::vector<std::int64_t>{k}) + dout * epilogue.db(y, b));
    const double dy = dout * epilogue.dy(y, b);
    for (std::size_t i = 0; i < z.size(); ++i) {
      double s = 1.0;
      if (op.reduce == fc::Reduce::logsumexp) s = std::exp(z[i] - y);
      if (op.reduce == fc::Reduce::max || op.reduce == fc::Reduce::min) s = i == extreme ? 1.0 : 0.0;
      if (s == 0.0) continue;
      const double x = inputs[i].empty() ? pad : src.get(inputs[i]);
      const double w = weight.get(weights[i]);
      if (!inputs[i].empty()) r.dx.set(inputs[i], r.dx.get(inputs[i]) + dy * s * op.dx(x, w));
      r.dw.set(weights[i], r.dw.get(weights[i]) + dy * s * op.dw(x, w));
    }
  });
  return r;
}

// Relative closeness with NaN and Inf matching exactly.
bool close(double got, double want, double tolerance) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::abs(got - want) <= tolerance * (1.0 + std::abs(want));
}

struct Operands {
  std::vector<Tensor> tensors;  // the problem's operands
  Tensor* src;
  Tensor* weight;
  Tensor* bias;
  Tensor* dst;
};

Operands make_operands(const Problem& p, fc::DType dtype, std::uint64_t seed, bool layouts = true) {
  Operands o;
  fctest::Rng rng(seed);
  o.tensors = fctest::allocate(p, dtype, layouts);
  fctest::fill_real_inputs(p, o.tensors, rng);
  fctest::fill_outputs_with_sentinel(p, o.tensors);
  o.src = &o.tensors[std::size_t(p.find("src"))];
  o.weight = &o.tensors[std::size_t(p.find("weight"))];
  o.bias = p.find("bias") >= 0 ? &o.tensors[std::size_t(p.find("bias"))] : nullptr;
  o.dst = &o.tensors[std::size_t(p.find("dst"))];
  return o;
}

fc::ConvArgs forward_args(const Operands& o) {
  return {.src = o.src->view(), .weight = o.weight->view(), .bias = o.bias ? o.bias->view() : fc::TensorView{},
          .dst = o.dst->view()};
}

// The reference engine's forward equals the naive one, for every catalog op, every epilogue and
// pad values 0, 1.5, -Inf and +Inf, in float64 and float32.
TEST(InnerOps, ReferenceForwardMatchesNaive) {
  int checked = 0;
  for (const auto& [name, naive] : naive_ops())
    for (const Epilogue& epilogue : epilogues())
      for (const double pad : {0.0, 1.5, -kInf, kInf})
        for (const fc::DType dtype : {fc::DType::float64, fc::DType::float32})
          for (std::uint64_t seed = 1; seed <= 3; ++seed) {
            const Problem p = fctest::random_problem(Op::forward, seed * 7 + std::uint64_t(checked % 5));
            Operands o = make_operands(p, dtype, seed);
            const fc::InnerOp op = make_op(name, epilogue, pad);
            fc::ConvPlan(fc::ConvKind::forward, forward_args(o), p.params, fc::Engine::reference, op)
                .run(forward_args(o));
            const std::vector<double> want = naive_forward(p, naive, epilogue, pad, *o.src, *o.weight, o.bias);
            const std::vector<double> got = o.dst->to_dense();
            const double tolerance = dtype == fc::DType::float64 ? 1e-12 : 2e-6 * double(p.reduction_length() + 2);
            for (std::size_t i = 0; i < got.size(); ++i)
              ASSERT_TRUE(close(got[i], want[i], tolerance))
                  << op.description() << " " << fc::dtype_name(dtype) << " at " << i << ": " << got[i] << " vs "
                  << want[i] << "\n" << p.describe();
            ++checked;
          }
  EXPECT_EQ(checked, int(naive_ops().size()) * 4 * 4 * 2 * 3);
}

// dL/dx, dL/dw, dL/db of the reference engine for dL/dout = g (a dst-shaped tensor).
Gradients reference_gradients(const Problem& p, const fc::InnerOp& op, const Operands& o, const Tensor& g,
                              fc::DType dtype) {
  Gradients r{Tensor(dtype, o.src->shape()), Tensor(dtype, o.weight->shape()), Tensor(dtype, {p.out_channels})};
  const fc::TensorView bias = o.bias ? o.bias->view() : fc::TensorView{};
  const fc::ConvArgs data{.src = o.src->view(), .weight = o.weight->view(), .bias = bias, .diff_dst = g.view(),
                          .diff_src = r.dx.view()};
  fc::ConvPlan(fc::ConvKind::backward_data, data, p.params, fc::Engine::reference, op).run(data);
  const fc::ConvArgs weights{.src = o.src->view(), .weight = o.weight->view(), .bias = bias, .diff_dst = g.view(),
                             .diff_weight = r.dw.view(), .diff_bias = r.db.view()};
  fc::ConvPlan(fc::ConvKind::backward_weights, weights, p.params, fc::Engine::reference, op).run(weights);
  return r;
}

// Element-wise closeness relative to the tensor's largest finite magnitude (float32 sums of
// terms of both signs lose digits relative to the terms, not to the result).
std::string compare(const char* what, const Tensor& got, const Tensor& want, double tolerance) {
  const std::vector<double> a = got.to_dense(), b = want.to_dense();
  double scale = 1.0;
  for (const double v : b)
    if (std::isfinite(v)) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!close(a[i], b[i], tolerance * scale))
      return std::string(what) + " at " + std::to_string(i) + ": " + std::to_string(a[i]) + " vs " + std::to_string(b[i]);
  return {};
}

// The reference engine's gradients equal the naive ones for every operation (the surrogate
// included), epilogue and pad value, in float64 and float32.
TEST(InnerOps, ReferenceGradientsMatchNaive) {
  int checked = 0;
  for (const auto& [name, naive] : naive_ops())
    for (const Epilogue& epilogue : epilogues())
      for (const double pad : {0.0, 1.5, -kInf, kInf})
        for (const fc::DType dtype : {fc::DType::float64, fc::DType::float32}) {
          const std::uint64_t seed = std::uint64_t(checked % 11) + 1;
          const Problem p = fctest::random_problem(Op::forward, seed);
          Operands o = make_operands(p, dtype, seed);
          Tensor g(dtype, o.dst->shape());
          fctest::Rng rng(seed + 100);
          g.fill_real(rng, -1, 1);
          const fc::InnerOp op = make_op(name, epilogue, pad);
          const Gradients got = reference_gradients(p, op, o, g, dtype);
          const Gradients want = naive_gradients(p, naive, epilogue, pad, *o.src, *o.weight, o.bias, g.to_dense());
          const double tolerance = dtype == fc::DType::float64 ? 1e-10 : 1e-4;
          for (const std::string& report :
               {compare("dx", got.dx, want.dx, tolerance), compare("dw", got.dw, want.dw, tolerance),
                o.bias ? compare("db", got.db, want.db, tolerance) : std::string()})
            ASSERT_EQ(report, "") << op.description() << " " << fc::dtype_name(dtype) << "\n" << p.describe();
          ++checked;
        }
  EXPECT_GT(checked, 200);
}

// The naive gradients (so the reference's) are the derivatives: central finite differences of
// the reference forward in float64 at sampled coordinates of x, w and b, for the operations
// with true derivatives, on finite pad values.
TEST(InnerOps, GradientsMatchFiniteDifferences) {
  int checked = 0;
  for (const auto& [name, naive] : naive_ops()) {
    if (name == "abs_diff_sum_adder") continue;  // surrogate derivatives by design
    for (const Epilogue& epilogue : epilogues())
      for (const double pad : {0.0, 1.5})
        for (std::uint64_t seed = 1; seed <= 2; ++seed) {
          const Problem p = fctest::random_problem(Op::forward, seed + 20 * std::uint64_t(checked % 3));
          Operands o = make_operands(p, fc::DType::float64, seed, false);  // (no broadcast views)
          if (!o.bias) continue;
          Tensor g(fc::DType::float64, o.dst->shape());
          fctest::Rng rng(seed + 7);
          g.fill_real(rng, -1, 1);
          const fc::InnerOp op = make_op(name, epilogue, pad);
          const Gradients grads = reference_gradients(p, op, o, g, fc::DType::float64);
          double scale = 0;  // sum of |out * g|: the rounding of the loss is relative to it
          const auto loss = [&] {
            fc::ConvPlan(fc::ConvKind::forward, forward_args(o), p.params, fc::Engine::reference, op).run(forward_args(o));
            const std::vector<double> out = o.dst->to_dense(), weights = g.to_dense();
            double sum = 0;
            scale = 0;
            for (std::size_t i = 0; i < out.size(); ++i) sum += out[i] * weights[i], scale += std::abs(out[i] * weights[i]);
            return sum;
          };
          for (auto [tensor, gradient] : {std::pair{o.src, &grads.dx}, {o.weight, &grads.dw}, {o.bias, &grads.db}})
            for (int sample = 0; sample < 6; ++sample) {
              const std::int64_t i = rng.uniform_int(0, tensor->numel() - 1);
              const double saved = tensor->get_linear(i), h = 1e-6;
              tensor->set_linear(i, saved + h);
              const double plus = loss();
              tensor->set_linear(i, saved - h);
              const double minus = loss();
              tensor->set_linear(i, saved);
              const double numeric = (plus - minus) / (2 * h), analytic = gradient->get_linear(i);
              EXPECT_NEAR(analytic, numeric, 1e-5 * (1 + std::abs(numeric)) + 1e-8 * scale)
                  << op.description() << " coordinate " << i << "\n" << p.describe();
            }
          ++checked;
        }
  }
  EXPECT_GT(checked, 40);
}

// Every engine that takes an operation (a plan can be made) against the reference, forward and
// both gradients, float32: integer inputs (exact sums, and max / min routing without float
// ties) for every reduce but logsumexp, real inputs with a tolerance for logsumexp and the
// gaussian and polynomial epilogues. Large random problems, some cut into many chunks
// (FASTCONV_IM2COL_CHUNK_BYTES), every catalog op and pad value.
class EnginesOnOps : public ::testing::TestWithParam<fc::Engine> {};

std::string engine_report(const Problem& p, const fc::InnerOp& op, fc::Engine engine, bool integers,
                          std::uint64_t seed) {
  const fc::DType f32 = fc::DType::float32;
  Operands o = make_operands(p, f32, seed);
  if (integers) {
    fctest::Rng rng(seed);
    fctest::fill_int_inputs(p, o.tensors, rng, -3, 3);
  }
  Tensor g(f32, o.dst->shape());
  fctest::Rng rng(seed + 3);
  if (integers) g.fill_int(rng, -2, 2); else g.fill_real(rng, -1, 1);
  const double tolerance = integers ? 0.0 : 1e-4;
  // Forward.
  std::unique_ptr<fc::ConvPlan> plan;
  try {
    plan = std::make_unique<fc::ConvPlan>(fc::ConvKind::forward, forward_args(o), p.params, engine, op);
  } catch (const fc::Error& e) {
    if (e.kind() != fc::ErrorKind::engine_declined) return std::string("unexpected error ") + e.what();
    return {};
  }
  plan->run(forward_args(o));
  const std::vector<double> got = o.dst->to_dense();
  fc::ConvPlan(fc::ConvKind::forward, forward_args(o), p.params, fc::Engine::reference, op).run(forward_args(o));
  const std::vector<double> want = o.dst->to_dense();
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!close(got[i], want[i], tolerance))
      return "forward at " + std::to_string(i) + ": " + std::to_string(got[i]) + " vs " + std::to_string(want[i]);
  // Gradients, where the engine takes them.
  const fc::TensorView bias = o.bias ? o.bias->view() : fc::TensorView{};
  Gradients mine{Tensor(f32, o.src->shape()), Tensor(f32, o.weight->shape()), Tensor(f32, {p.out_channels})};
  const fc::ConvArgs data{.src = o.src->view(), .weight = o.weight->view(), .bias = bias, .diff_dst = g.view(),
                          .diff_src = mine.dx.view()};
  const fc::ConvArgs weights{.src = o.src->view(), .weight = o.weight->view(), .bias = bias, .diff_dst = g.view(),
                             .diff_weight = mine.dw.view(), .diff_bias = o.bias ? mine.db.view() : fc::TensorView{}};
  std::unique_ptr<fc::ConvPlan> data_plan, weights_plan;
  for (auto [kind, args, made] : {std::tuple{fc::ConvKind::backward_data, &data, &data_plan},
                                  std::tuple{fc::ConvKind::backward_weights, &weights, &weights_plan}}) {
    try {
      *made = std::make_unique<fc::ConvPlan>(kind, *args, p.params, engine, op);
    } catch (const fc::Error& e) {
      if (e.kind() != fc::ErrorKind::engine_declined) return std::string("unexpected error ") + e.what();
    }
  }
  if (!data_plan && !weights_plan) return {};
  const Gradients expected = reference_gradients(p, op, o, g, f32);
  if (data_plan) {
    data_plan->run(data);
    if (std::string r = compare("dx", mine.dx, expected.dx, tolerance); !r.empty()) return r;
  }
  if (weights_plan) {
    weights_plan->run(weights);
    if (std::string r = compare("dw", mine.dw, expected.dw, tolerance); !r.empty()) return r;
    if (o.bias)
      if (std::string r = compare("db", mine.db, expected.db, tolerance); !r.empty()) return r;
  }
  return {};
}

TEST_P(EnginesOnOps, MatchTheReference) {
  const fc::Engine engine = GetParam();
  int runs = 0;
  for (const std::string& name : fc::InnerOp::catalog_names())
    for (const double pad : {0.0, -kInf, kInf, 2.0})
      for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        const bool chunked = seed % 2 == 0;
        if (chunked) setenv("FASTCONV_IM2COL_CHUNK_BYTES", "4096", 1);
        const Problem p = fctest::random_problem(Op::forward, seed * 13 + std::uint64_t(runs % 7), true);
        fc::InnerOp op = fc::InnerOp::catalog(name);
        op.pad_value(pad);
        const bool smooth = op.reduce() == fc::Reduce::logsumexp;
        if (seed == 3) op.epilogue("relu");
        if (seed == 4 && !smooth) op.epilogue("polynomial", {1.0, 2.0});
        const bool integers = !smooth && seed != 4;
        const std::string report = engine_report(p, op, engine, integers, seed);
        unsetenv("FASTCONV_IM2COL_CHUNK_BYTES");
        ASSERT_EQ(report, "") << fc::engine_name(engine) << " " << op.description() << (chunked ? " chunked" : "")
                              << "\n" << p.describe();
        ++runs;
      }
}

// Layers whose packed weights exceed implicit_gemm's budget run in input-channel chunks, the
// partial reductions merged (sum, max, min, logsumexp) and the epilogue applied after the last;
// and NCHW, channels-last and strided outputs.
TEST_P(EnginesOnOps, ChunkedChannelsAndLayouts) {
  const fc::Engine engine = GetParam();
  for (const std::string name : {"abs_diff_sum", "add_max", "sub_min", "mul_logsumexp"}) {
    const Problem p = fctest::make_problem(Op::forward, 1, 384, 40, {4, 7}, {3, 3}, fc::ConvParams(2).padding({1, 0}), true);
    fc::InnerOp op = fc::InnerOp::catalog(name);
    op.pad_value(name == std::string("add_max") ? -kInf : 0.5).epilogue("relu");
    const bool integers = op.reduce() != fc::Reduce::logsumexp;
    const std::string report = engine_report(p, op, engine, integers, 5);
    ASSERT_EQ(report, "") << fc::engine_name(engine) << " " << op.description() << "\n" << p.describe();
  }
}

// NaN inputs: outputs whose window reads a NaN are NaN for every reduce, the others unchanged,
// exactly as the reference computes them; an empty batch writes nothing, and zero input
// channels give the reduction's identity through the epilogue (max: -Inf + b).
TEST_P(EnginesOnOps, NaNInputsAndEmptyProblems) {
  const fc::Engine engine = GetParam();
  const fc::DType f32 = fc::DType::float32;
  for (const std::string& name : fc::InnerOp::catalog_names()) {
    const fc::InnerOp op = fc::InnerOp::catalog(name);
    const Problem p = fctest::make_problem(Op::forward, 2, 5, 20, {9, 11}, {3, 3}, fc::ConvParams(2).padding({1}), true);
    Operands o = make_operands(p, f32, 3);
    o.src->set(std::vector<std::int64_t>{1, 2, 4, 5}, std::nan(""));
    std::unique_ptr<fc::ConvPlan> plan;
    try {
      plan = std::make_unique<fc::ConvPlan>(fc::ConvKind::forward, forward_args(o), p.params, engine, op);
    } catch (const fc::Error& e) {
      ASSERT_EQ(e.kind(), fc::ErrorKind::engine_declined) << e.what();
      continue;
    }
    plan->run(forward_args(o));
    const std::vector<double> got = o.dst->to_dense();
    fc::ConvPlan(fc::ConvKind::forward, forward_args(o), p.params, fc::Engine::reference, op).run(forward_args(o));
    const std::vector<double> want = o.dst->to_dense();
    std::int64_t nans = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(close(got[i], want[i], 1e-4)) << name << " at " << i << ": " << got[i] << " vs " << want[i];
      nans += std::isnan(want[i]);
    }
    EXPECT_EQ(nans, 9 * 20) << name;  // 3x3 outputs of each of the 20 channels of image 1
  }
  // Empty problems (the plan writes them for every engine that takes the op).
  for (const std::int64_t batch : {0, 1}) {
    const std::int64_t channels = batch == 0 ? 3 : 0;
    std::vector<float> src(std::size_t(batch * channels * 25) + 1), weight(std::size_t(4 * channels * 9) + 1);
    std::vector<float> bias = {0.5f, -1.0f, 2.0f, 0.0f}, dst(std::size_t(batch * 4 * 25) + 1, -7.0f);
    const std::vector<std::int64_t> src_shape{batch, channels, 5, 5}, weight_shape{4, channels, 3, 3},
        dst_shape{batch, 4, 5, 5};
    const fc::ConvArgs args{.src = fc::TensorView::contiguous(src.data(), f32, src_shape),
                            .weight = fc::TensorView::contiguous(weight.data(), f32, weight_shape),
                            .bias = fc::TensorView::contiguous(bias.data(), f32, std::vector<std::int64_t>{4}),
                            .dst = fc::TensorView::contiguous(dst.data(), f32, dst_shape)};
    fc::InnerOp op = fc::InnerOp::catalog("add_max");
    op.pad_value(-kInf).epilogue("relu");
    try {
      fc::ConvPlan(fc::ConvKind::forward, args, fc::ConvParams(2).padding({1}), engine, op).run(args);
    } catch (const fc::Error& e) {
      ASSERT_EQ(e.kind(), fc::ErrorKind::engine_declined) << e.what();
      continue;
    }
    if (batch == 0) {
      EXPECT_EQ(dst[0], -7.0f);  // nothing written
    }
    for (std::int64_t i = 0; batch == 1 && i < 4 * 25; ++i)
      EXPECT_EQ(dst[std::size_t(i)], 0.0f) << i;  // relu(-Inf + b) = 0
  }
}

// max / min route to the first extreme of the values as the operands' dtype holds them: float32
// rounding ties x + w here (0.1f * (i + 1) - 0.5f - 0.1f * j) where double would not, and the
// reference must route like the float32 engines.
TEST(InnerOps, ExtremeRoutingFollowsTheDtypesRounding) {
  std::vector<float> x(9), w(9), g(9, 1.0f);
  for (int i = 0; i < 9; ++i) x[std::size_t(i)] = 0.1f * float(i + 1), w[std::size_t(i)] = -0.5f - 0.1f * float(i);
  fc::InnerOp op = fc::InnerOp::catalog("add_max");
  op.pad_value(-kInf);
  std::vector<float> results[2];
  const fc::Engine engines[2] = {fc::Engine::reference, fc::Engine::im2col};
  for (int e = 0; e < 2; ++e) {
    std::vector<float> dw(9);
    const fc::ConvArgs args{.src = fc::make_view(x.data(), {1, 1, 3, 3}), .weight = fc::make_view(w.data(), {1, 1, 3, 3}),
                            .diff_dst = fc::make_view(g.data(), {1, 1, 3, 3}),
                            .diff_weight = fc::make_view(dw.data(), {1, 1, 3, 3})};
    fc::ConvPlan(fc::ConvKind::backward_weights, args, fc::ConvParams(2).padding({1}), engines[e], op).run(args);
    results[e] = dw;
  }
  EXPECT_EQ(results[0], results[1]);
}

// Every engine but the reference (the oracle itself).
std::vector<fc::Engine> engines_but_reference() {
  std::vector<fc::Engine> engines;
  for (const fc::Engine engine : fc::kAllEngines)
    if (engine != fc::Engine::reference) engines.push_back(engine);
  return engines;
}

INSTANTIATE_TEST_SUITE_P(, EnginesOnOps, ::testing::ValuesIn(engines_but_reference()),
                         [](const auto& info) { return std::string(fc::engine_name(info.param)); });

}  // namespace
