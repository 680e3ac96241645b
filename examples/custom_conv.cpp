// custom_conv.cpp — a custom convolution with a user-defined inner operation (adder_op.cpp):
// forward and both gradients of an AdderNet layer through the library's engines, checked
// against the same operation run by the reference engine and against the hand-computed value
// of one output. Built by the test command against the installed package.
#include <fastconv/fastconv.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

FASTCONV_DECLARE_CUSTOM_OP(adder_op);

int main() {
  namespace fc = fastconv;
  const std::int64_t N = 2, C = 3, K = 4, H = 6, W = 5;
  std::vector<float> x(N * C * H * W), w(K * C * 3 * 3), y(N * K * H * W), y_ref(y.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(int(i * 7 % 11) - 5) * 0.25f;
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(int(i * 5 % 9) - 4) * 0.5f;
  auto src = fc::make_view(x.data(), {N, C, H, W});
  auto weight = fc::make_view(w.data(), {K, C, 3, 3});
  auto dst = fc::make_view(y.data(), {N, K, H, W});
  auto dst_ref = fc::make_view(y_ref.data(), {N, K, H, W});
  const auto params = fc::ConvParams(2).padding({1});
  const fc::InnerOp op = adder_op();

  fc::ConvPlan plan(fc::ConvKind::forward, {.src = src, .weight = weight, .dst = dst}, params,
                    fc::Engine::automatic, op);
  plan.run({.src = src, .weight = weight, .dst = dst});
  fc::ConvPlan(fc::ConvKind::forward, {.src = src, .weight = weight, .dst = dst_ref}, params,
               fc::Engine::reference, op)
      .run({.src = src, .weight = weight, .dst = dst_ref});

  // Output (n 0, k 0, 1, 1) by hand: -sum over c and the 3x3 window of |x - w|.
  double expected = 0;
  for (std::int64_t c = 0; c < C; ++c)
    for (std::int64_t i = 0; i < 3; ++i)
      for (std::int64_t j = 0; j < 3; ++j) expected -= std::fabs(x[(c * H + i) * W + j] - w[(c * 3 + i) * 3 + j]);
  bool ok = std::fabs(y[1 * W + 1] - expected) < 1e-4;
  for (std::size_t i = 0; i < y.size(); ++i) ok = ok && std::fabs(y[i] - y_ref[i]) < 1e-4f;

  // Gradients for dL/dy = 1 everywhere: the engines' against the reference's.
  std::vector<float> g(y.size(), 1.0f), dx(x.size()), dw(w.size()), dx_ref(x.size()), dw_ref(w.size());
  auto diff_dst = fc::make_view(g.data(), {N, K, H, W});
  for (const fc::Engine engine : {fc::Engine::automatic, fc::Engine::reference}) {
    const bool reference = engine == fc::Engine::reference;
    auto diff_src = fc::make_view((reference ? dx_ref : dx).data(), {N, C, H, W});
    auto diff_weight = fc::make_view((reference ? dw_ref : dw).data(), {K, C, 3, 3});
    const fc::ConvArgs data{.src = src, .weight = weight, .diff_dst = diff_dst, .diff_src = diff_src};
    fc::ConvPlan(fc::ConvKind::backward_data, data, params, engine, op).run(data);
    const fc::ConvArgs weights{.src = src, .weight = weight, .diff_dst = diff_dst, .diff_weight = diff_weight};
    fc::ConvPlan(fc::ConvKind::backward_weights, weights, params, engine, op).run(weights);
  }
  for (std::size_t i = 0; i < dx.size(); ++i) ok = ok && std::fabs(dx[i] - dx_ref[i]) < 1e-4f;
  for (std::size_t i = 0; i < dw.size(); ++i) ok = ok && std::fabs(dw[i] - dw_ref[i]) < 1e-3f;

  std::printf("adder_op (%s): y[0,0,1,1] = %g (by hand %g), dL/dw[0] = %g; %s\n",
              fc::engine_name(plan.engine()), y[1 * W + 1], expected, dw[0], ok ? "ok" : "MISMATCH");
  return ok ? 0 : 1;
}
