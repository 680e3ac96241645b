// test_custom_user_op.cpp — inner operations defined outside the library (fastconv/custom.hpp),
// compiled per ISA by fastconv_add_custom_ops: their parameters, their own epilogue and its
// derivatives, a forward-only operation, through every engine that takes them against the
// reference, and the reference against this file's own formula.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/problem.hpp"

FASTCONV_DECLARE_CUSTOM_OP(scaled_square_op);
FASTCONV_DECLARE_CUSTOM_OP(shifted_max_op);
extern "C" const fastconv::custom::OpTable* scaled_square_exported();

namespace fc = fastconv;
using fctest::Op;
using fctest::Problem;
using fctest::Tensor;

namespace {

struct Operands {
  std::vector<Tensor> tensors;
  Tensor *src, *weight, *bias, *dst;
  explicit Operands(const Problem& p, std::uint64_t seed) : tensors(fctest::allocate(p, fc::DType::float32, true)) {
    fctest::Rng rng(seed);
    fctest::fill_real_inputs(p, tensors, rng);
    src = &tensors[std::size_t(p.find("src"))];
    weight = &tensors[std::size_t(p.find("weight"))];
    bias = p.find("bias") >= 0 ? &tensors[std::size_t(p.find("bias"))] : nullptr;
    dst = &tensors[std::size_t(p.find("dst"))];
  }
  fc::ConvArgs forward() const {
    return {.src = src->view(), .weight = weight->view(), .bias = bias ? bias->view() : fc::TensorView{},
            .dst = dst->view()};
  }
};

double close_enough(const std::vector<double>& got, const std::vector<double>& want) {
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]) / (1 + std::abs(want[i])));
  return worst;
}

TEST(CustomUserOp, TableDescribesTheOperation) {
  const fc::InnerOp op = scaled_square_op();
  EXPECT_EQ(std::string(op.table().name), "scaled_square");
  EXPECT_EQ(op.table().param_count, 2);
  EXPECT_EQ(op.epilogue_kind(), fc::EpilogueKind::op);
  EXPECT_TRUE(op.has_gradients());
  for (int isa = 0; isa < 3; ++isa) EXPECT_NE(op.table().isas[isa], nullptr) << isa;
  EXPECT_FALSE(shifted_max_op().has_gradients());
  EXPECT_THROW(fc::InnerOp(scaled_square_op()).params({1.0}), fc::Error);  // two parameters
}

// FASTCONV_CUSTOM_OP_EXPORT's table is the operation's, with every ISA's kernels.
TEST(CustomUserOp, ExportedTableIsTheOperation) {
  const fc::custom::OpTable* table = scaled_square_exported();
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table, scaled_square_exported());
  const fc::InnerOp op(*table);
  EXPECT_EQ(std::string(op.table().name), "scaled_square");
  EXPECT_EQ(op.table().param_count, 2);
  EXPECT_TRUE(op.has_gradients());
  for (int isa = 0; isa < 3; ++isa) EXPECT_NE(op.table().isas[isa], nullptr) << isa;
  const double p[2] = {0.5, 2.0};
  EXPECT_DOUBLE_EQ(table->combine(1.0, 3.0, p), 0.5 * 4.0);
  EXPECT_DOUBLE_EQ(table->epilogue(1.0, 0.25, p), std::exp(-2.0) + 0.25);
}

// The reference computes this file's formula; every engine that takes the op matches it.
TEST(CustomUserOp, EnginesMatchTheFormula) {
  int checked = 0;
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    const Problem p = fctest::random_problem(Op::forward, seed, true);
    fc::InnerOp op = scaled_square_op();
    op.params({0.5, 0.01}).pad_value(0.25);
    Operands reference(p, seed);
    fc::ConvPlan(fc::ConvKind::forward, reference.forward(), p.params, fc::Engine::reference, op)
        .run(reference.forward());
    const std::vector<double> want = reference.dst->to_dense();
    // The formula, at a few outputs: out = exp(-p1 * sum of p0 (w - x)^2) + b, from a plain
    // mul_sum-free evaluation through the catalog's sq_diff_sum and the reference.
    fc::InnerOp squares = fc::InnerOp::catalog("sq_diff_sum");
    squares.pad_value(0.25);
    Operands plain(p, seed);
    fc::ConvPlan(fc::ConvKind::forward, plain.forward(), p.params, fc::Engine::reference, squares).run(plain.forward());
    const std::vector<double> sums = plain.dst->to_dense();
    for (std::size_t i = 0; i < want.size(); ++i) {
      const double bias = reference.bias ? reference.bias->get(std::vector<std::int64_t>{std::int64_t(i) / (std::int64_t(want.size()) / p.batch / p.out_channels) % p.out_channels}) : 0.0;
      const double y = 0.5 * (sums[i] - bias);
      ASSERT_NEAR(want[i], std::exp(-0.01 * y) + bias, 1e-4 * (1 + std::abs(want[i]))) << i << "\n" << p.describe();
    }
    for (const fc::Engine engine : fc::kAllEngines) {
      if (engine == fc::Engine::reference) continue;
      Operands run(p, seed);
      try {
        fc::ConvPlan(fc::ConvKind::forward, run.forward(), p.params, engine, op).run(run.forward());
      } catch (const fc::Error& e) {
        ASSERT_EQ(e.kind(), fc::ErrorKind::engine_declined) << e.what();
        continue;
      }
      EXPECT_LT(close_enough(run.dst->to_dense(), want), 1e-4) << fc::engine_name(engine) << "\n" << p.describe();
      ++checked;
    }
  }
  EXPECT_GE(checked, 12);  // auto, implicit_gemm and im2col take it
}

// Gradients through the op's own epilogue derivatives: im2col against the reference.
TEST(CustomUserOp, GradientsMatchTheReference) {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    const Problem p = fctest::random_problem(Op::forward, seed + 30, true);
    fc::InnerOp op = scaled_square_op();
    op.params({0.5, 0.02});
    Operands run(p, seed);
    Tensor g(fc::DType::float32, run.dst->shape());
    fctest::Rng rng(seed);
    g.fill_real(rng, -1, 1);
    const fc::TensorView bias = run.bias ? run.bias->view() : fc::TensorView{};
    std::vector<double> results[2][3];
    for (const fc::Engine engine : {fc::Engine::reference, fc::Engine::im2col}) {
      Tensor dx(fc::DType::float32, run.src->shape()), dw(fc::DType::float32, run.weight->shape());
      Tensor db(fc::DType::float32, {p.out_channels});
      const fc::ConvArgs data{.src = run.src->view(), .weight = run.weight->view(), .bias = bias, .diff_dst = g.view(),
                              .diff_src = dx.view()};
      fc::ConvPlan(fc::ConvKind::backward_data, data, p.params, engine, op).run(data);
      const fc::ConvArgs weights{.src = run.src->view(), .weight = run.weight->view(), .bias = bias,
                                 .diff_dst = g.view(), .diff_weight = dw.view(),
                                 .diff_bias = run.bias ? db.view() : fc::TensorView{}};
      fc::ConvPlan(fc::ConvKind::backward_weights, weights, p.params, engine, op).run(weights);
      const int e = engine == fc::Engine::reference ? 0 : 1;
      results[e][0] = dx.to_dense(), results[e][1] = dw.to_dense(), results[e][2] = db.to_dense();
    }
    for (int i = 0; i < 3; ++i) EXPECT_LT(close_enough(results[1][i], results[0][i]), 1e-3) << i << "\n" << p.describe();
  }
}

// An op without derivatives runs forward and refuses gradients with a clear error.
TEST(CustomUserOp, ForwardOnlyOperation) {
  const Problem p = fctest::random_problem(Op::forward, 3, true);
  Operands run(p, 3), reference(p, 3);
  fc::ConvPlan(fc::ConvKind::forward, run.forward(), p.params, fc::Engine::automatic, shifted_max_op()).run(run.forward());
  fc::ConvPlan(fc::ConvKind::forward, reference.forward(), p.params, fc::Engine::reference, shifted_max_op())
      .run(reference.forward());
  EXPECT_LT(close_enough(run.dst->to_dense(), reference.dst->to_dense()), 1e-5);
  Tensor dx(fc::DType::float32, run.src->shape());
  const fc::ConvArgs data{.src = run.src->view(), .weight = run.weight->view(), .diff_dst = run.dst->view(),
                          .diff_src = dx.view()};
  try {
    fc::ConvPlan(fc::ConvKind::backward_data, data, p.params, fc::Engine::automatic, shifted_max_op());
    FAIL() << "a gradient plan for an op without derivatives";
  } catch (const fc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no derivatives"), std::string::npos) << e.what();
  }
}

}  // namespace
