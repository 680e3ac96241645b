// test_bench_peers.cpp — LayerBench with injected fake peers: a peer whose result agrees with
// fastconv's is timed side by side and gets a ratio; a peer whose result differs is reported as
// a mismatch and never timed; a peer that cannot prepare the layer is a failed row. With inner
// operations (--op): every direction, the forward operand of the gradients, transposed rows
// skipped with the library's reason, convolution-only peers skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <stdexcept>
#include <vector>

#include "bench.hpp"
#include "fastconv/inner_op.hpp"
#include "fastconv/plan.hpp"
#include "fastconv/profile.hpp"
#include "fastconv/tensor.hpp"
#include "fastconv/threading.hpp"

namespace fastconv_bench {
namespace {

const Layer kTinyLayer = conv2d("tiny", 1, 3, 4, 9, 3).pad(1);

// Computes the layer's direction (with the problem's inner operation, or the plain convolution
// when `ignore_op`) with fastconv's reference engine into its own buffer, then adds `error` to
// one element. Counts its run() calls.
class FakePeerLayer final : public PeerLayer {
 public:
  FakePeerLayer(const PeerProblem& problem, float error, int& run_count, bool ignore_op)
      : layer_(problem.layer), direction_(problem.direction), src_(problem.src),
        weight_(problem.weight), dst_(problem.dst), error_(error), run_count_(run_count),
        op_(ignore_op ? fastconv::InnerOp() : problem.op) {
    const std::optional<Role> forward_role = forward_operand_role(direction_);
    if (!op_.is_convolution() && forward_role) {
      forward_operand_ = *forward_role == Role::src ? problem.forward_src : problem.forward_weight;
      if (forward_operand_ == nullptr) throw std::runtime_error("no forward operand given");
    }
    std::int64_t count = 1;
    for (std::int64_t size : role_shape(layer_, output_role(direction_))) count *= size;
    result_.assign(std::size_t(count), 0.0f);
  }

  void run() override {
    // The output role's pointer is null in the problem: it is this peer's own buffer.
    auto buffer = [&](Role role, const float* given) {
      return role == output_role(direction_) ? result_.data() : const_cast<float*>(given);
    };
    fastconv::ConvArgs args =
        direction_args(layer_, direction_, buffer(Role::src, src_), buffer(Role::weight, weight_),
                       buffer(Role::dst, dst_));
    if (forward_operand_) {
      args = with_forward_operand(args, layer_, direction_, const_cast<float*>(forward_operand_));
    }
    fastconv::ConvPlan(conv_kind(direction_), args, conv_params(layer_, direction_),
                       fastconv::Engine::reference, op_)
        .run(args);
    result_[5] += error_;
    ++run_count_;
  }
  const float* result() override { return result_.data(); }

 private:
  Layer layer_;
  Direction direction_;
  const float* src_;
  const float* weight_;
  const float* dst_;
  float error_;
  int& run_count_;
  fastconv::InnerOp op_;
  const float* forward_operand_ = nullptr;
  std::vector<float> result_;
};

// Like the real peers: "convolution_only" skips other operations (as torch and onednn do), every
// peer skips the transposed form of an operation other than the convolution (as torch_unfold
// does), "ignores_op" computes the plain convolution whatever it is asked (a wrong result).
class FakePeer final : public Peer {
 public:
  FakePeer(std::string name, float error) : name_(std::move(name)), error_(error) {}
  std::string name() const override { return name_; }
  std::unique_ptr<PeerLayer> prepare(const PeerProblem& problem) const override {
    allocate_output = problem.allocate_output;
    if (error_ < 0) throw std::runtime_error("cannot run this layer");
    if (problem.direction == Direction::backward_weights && name_ == "forward_only") {
      throw PeerUnsupported("forward_only: no backward weights");
    }
    if (name_ == "convolution_only" && !problem.op.is_convolution()) {
      throw PeerUnsupported(convolution_only_reason(name_, problem.op));
    }
    if (problem.direction == Direction::transposed && !problem.op.is_convolution()) {
      throw PeerUnsupported(name_ + ": no transposed form");
    }
    return std::make_unique<FakePeerLayer>(problem, error_, run_count, name_ == "ignores_op");
  }
  mutable int run_count = 0;
  mutable std::optional<bool> allocate_output;  // PeerProblem::allocate_output of the last prepare()

 private:
  std::string name_;
  float error_;
};

BenchConfig fast_config() {
  BenchConfig config;
  config.timing = {.min_seconds = 0.0, .min_runs = 3, .max_runs = 3};
  config.reference_max_gflop = 1.0;
  config.threads = 1;
  return config;
}

TEST(BenchPeers, MatchingPeerIsTimedAndMismatchIsReportedNotTimed) {
  FakePeer agreeing("agreeing", 0.0f);
  FakePeer wrong("wrong", 1.0f);
  FakePeer unable("unable", -1.0f);
  const fastconv::Engine engines[] = {fastconv::Engine::automatic};
  const Peer* peers[] = {&agreeing, &wrong, &unable};
  LayerBench bench(kTinyLayer, problem_string(kTinyLayer));
  const std::vector<BenchResult> rows = bench.run(engines, peers, fast_config());

  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].library, "fastconv");
  EXPECT_EQ(rows[0].outcome, Outcome::measured) << rows[0].message;
  EXPECT_EQ(rows[0].timing.runs, 3);

  EXPECT_EQ(rows[1].library, "agreeing");
  EXPECT_EQ(rows[1].outcome, Outcome::measured) << rows[1].message;
  EXPECT_EQ(rows[1].timing.runs, 3);
  EXPECT_EQ(agreeing.run_count, 1 + 1 + 3);  // check run, warm-up, timed rounds
  EXPECT_LE(rows[1].max_abs_error, 1e-5);

  EXPECT_EQ(rows[2].library, "wrong");
  EXPECT_EQ(rows[2].outcome, Outcome::mismatch);
  EXPECT_NE(rows[2].message.find("mismatch"), std::string::npos) << rows[2].message;
  EXPECT_EQ(rows[2].timing.runs, 0);
  EXPECT_EQ(wrong.run_count, 1);  // only the check run
  EXPECT_NEAR(rows[2].max_abs_error, 1.0, 1e-3);

  EXPECT_EQ(rows[3].outcome, Outcome::failed);
  EXPECT_NE(rows[3].message.find("cannot run this layer"), std::string::npos);

  // The fastconv row has one ratio per peer; only the measured peer's is a number.
  ASSERT_EQ(rows[0].ratios.size(), 3u);
  EXPECT_EQ(rows[0].ratios[0].peer, "agreeing");
  EXPECT_GT(rows[0].ratios[0].ratio, 0.0);
  EXPECT_TRUE(std::isnan(rows[0].ratios[1].ratio));
  EXPECT_TRUE(std::isnan(rows[0].ratios[2].ratio));
}

// Every direction: a peer that computes it agrees with fastconv and is timed; a wrong one is a
// mismatch, not timed; a peer that cannot express the direction is skipped. The stride-2 layer
// makes the transposed output size need output_padding.
TEST(BenchPeers, EveryDirectionIsCheckedAgainstFastconv) {
  const Layer layer = conv2d("strided", 2, 4, 6, 10, 3).stride(2).pad(1);
  for (Direction direction : kAllDirections) {
    SCOPED_TRACE(direction_name(direction));
    FakePeer agreeing("agreeing", 0.0f);
    FakePeer wrong("wrong", 0.5f);
    FakePeer forward_only("forward_only", 0.0f);
    const fastconv::Engine engines[] = {fastconv::Engine::automatic, fastconv::Engine::implicit_gemm};
    const Peer* peers[] = {&agreeing, &wrong, &forward_only};
    LayerBench bench(layer, problem_string(layer), direction);
    const std::vector<BenchResult> rows = bench.run(engines, peers, fast_config());
    ASSERT_EQ(rows.size(), 5u);
    for (const BenchResult& row : rows) EXPECT_EQ(row.direction, direction_name(direction));
    EXPECT_EQ(rows[0].outcome, Outcome::measured) << rows[0].message;
    EXPECT_DOUBLE_EQ(rows[0].gflop, direct_flop_count(layer) * 1e-9);
    EXPECT_TRUE(rows[0].warning.empty()) << rows[0].warning;  // flop_count() agrees
    // implicit_gemm takes the forward and backward_data (also the transposed convolution's).
    EXPECT_EQ(rows[1].outcome,
              direction == Direction::backward_weights ? Outcome::skipped : Outcome::measured)
        << rows[1].message;
    EXPECT_EQ(rows[2].outcome, Outcome::measured) << rows[2].message;
    EXPECT_LE(rows[2].max_abs_error, 1e-4);
    EXPECT_EQ(rows[3].outcome, Outcome::mismatch) << rows[3].message;
    EXPECT_EQ(wrong.run_count, 1);
    EXPECT_EQ(rows[4].outcome, direction == Direction::backward_weights ? Outcome::skipped
                                                                          : Outcome::measured)
        << rows[4].message;
  }
}

TEST(BenchPeers, ProfileGivesEachFastconvRowItsPhases) {
  BenchConfig config = fast_config();
  config.profile = true;
  const fastconv::Engine engines[] = {fastconv::Engine::im2col};
  LayerBench bench(kTinyLayer, problem_string(kTinyLayer));
  const std::vector<BenchResult> rows = bench.run(engines, {}, config);
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].outcome, Outcome::measured) << rows[0].message;
  const PhaseProfile& profile = rows[0].profile;
  ASSERT_TRUE(profile.present);
  EXPECT_GE(profile.runs, 3);
  EXPECT_GT(profile.wall_ms, 0.0);
  EXPECT_GT(profile.ms[int(fastconv::profile::Phase::microkernel)], 0.0);
  EXPECT_GT(profile.ms[int(fastconv::profile::Phase::transforms)], 0.0);  // im2col's unfold
  double rows_sum = 0.0;
  for (double ms : profile.ms) rows_sum += ms;
  EXPECT_NEAR(rows_sum, profile.wall_ms, 1e-6 + 1e-9 * profile.wall_ms);
  EXPECT_FALSE(fastconv::profile::enabled());  // switched off again
  // Without --profile nothing is recorded.
  LayerBench plain(kTinyLayer, problem_string(kTinyLayer));
  EXPECT_FALSE(plain.run(engines, {}, fast_config())[0].profile.present);
}

TEST(BenchPeers, PeerIsNotTimedWithoutAFastconvResult) {
  FakePeer agreeing("agreeing", 0.0f);
  const Peer* peers[] = {&agreeing};
  LayerBench bench(kTinyLayer, problem_string(kTinyLayer));
  const std::vector<BenchResult> rows = bench.run({}, peers, fast_config());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].outcome, Outcome::skipped);
  EXPECT_EQ(agreeing.run_count, 1);
}

TEST(BenchPeers, RowsCarryTensorBytesWorkspaceAndRoofline) {
  MachineFigures machine;
  machine.isa = "test";
  machine.peak_gflops_per_core = machine.peak_gflops = 100.0;
  machine.bandwidth_gbs = 10.0;
  BenchConfig config = fast_config();
  config.machine = &machine;
  const fastconv::Engine engines[] = {fastconv::Engine::im2col};
  LayerBench bench(kTinyLayer, problem_string(kTinyLayer));
  const std::vector<BenchResult> rows = bench.run(engines, {}, config);
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].outcome, Outcome::measured) << rows[0].message;
  EXPECT_EQ(rows[0].tensor_bytes, (3 * 81 + 4 * 3 * 9 + 4 * 81) * sizeof(float));
  EXPECT_GT(rows[0].workspace_bytes, 0u);  // im2col's unfolded image
  EXPECT_GT(rows[0].roofline.percent_of_peak, 0.0);
  // The FMA burst was timed in every round: a finite, positive share of each round's peak.
  EXPECT_GT(rows[0].roofline.percent_of_round_peak, 0.0);
  EXPECT_TRUE(std::isfinite(rows[0].roofline.percent_of_round_peak));
  // 2 * 4 * 27 * 81 FLOP over 2364 bytes is below the ridge point of 10 FLOP/byte.
  EXPECT_TRUE(rows[0].roofline.memory_bound);
  EXPECT_GT(rows[0].roofline.percent_of_bandwidth_roofline, 0.0);
}

// --scaling at 2 threads: each fastconv row also gets its 1-thread median from the same rounds;
// without it (or at 1 thread) the speedup stays NaN.
TEST(BenchPeers, ScalingTimesTheSamePlanAtOneThread) {
  const int before = fastconv::get_num_threads();
  fastconv::set_num_threads(2);
  BenchConfig config = fast_config();
  config.threads = 2;
  config.scaling = true;
  const fastconv::Engine engines[] = {fastconv::Engine::im2col};
  LayerBench bench(kTinyLayer, problem_string(kTinyLayer));
  const std::vector<BenchResult> rows = bench.run(engines, {}, config);
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].outcome, Outcome::measured) << rows[0].message;
  EXPECT_GT(rows[0].speedup_over_one_thread, 0.0);
  EXPECT_TRUE(std::isfinite(rows[0].speedup_over_one_thread));
  EXPECT_EQ(fastconv::get_num_threads(), 2);  // restored after the 1-thread runs
  config.scaling = false;
  LayerBench plain(kTinyLayer, problem_string(kTinyLayer));
  EXPECT_TRUE(std::isnan(plain.run(engines, {}, config)[0].speedup_over_one_thread));
  fastconv::set_num_threads(before);
}

// Every direction of custom inner operations (grouped, strided, padded layer; max-plus
// dilation with pad value -inf): fastconv's engines that run the op are measured, the others
// decline; a peer computing the op (fed the forward operand its gradient reads) agrees and is
// timed; one ignoring the op mismatches; a convolution-only peer is skipped with its reason; the
// transposed rows are skipped with the library's reason.
TEST(BenchPeers, InnerOpsInEveryDirection) {
  const Layer layer = conv2d("op_layer", 2, 4, 6, 9, 3).stride(2).pad(1).groups(2);
  const fastconv::InnerOp ops[] = {fastconv::InnerOp::catalog("abs_diff_sum"),
                                   fastconv::InnerOp::catalog("add_max").pad_value(-INFINITY),
                                   fastconv::InnerOp::catalog("mul_logsumexp")};
  for (const fastconv::InnerOp& op : ops) {
    for (Direction direction : kAllDirections) {
      SCOPED_TRACE(op.description() + " " + direction_name(direction));
      FakePeer agreeing("agreeing", 0.0f);
      FakePeer ignores_op("ignores_op", 0.0f);
      FakePeer convolution_only("convolution_only", 0.0f);
      const fastconv::Engine engines[] = {fastconv::Engine::automatic, fastconv::Engine::im2col,
                                          fastconv::Engine::winograd};
      const Peer* peers[] = {&agreeing, &ignores_op, &convolution_only};
      LayerBench bench(layer, problem_string(layer), direction, op);
      const std::vector<BenchResult> rows = bench.run(engines, peers, fast_config());
      ASSERT_EQ(rows.size(), 6u);
      for (const BenchResult& row : rows) {
        EXPECT_EQ(row.op, op.table().name);
        EXPECT_EQ(row.pad_value, op.pad_value());
        EXPECT_DOUBLE_EQ(row.gpairs, direct_pair_count(layer) * 1e-9);
        EXPECT_DOUBLE_EQ(row.gflop, 2.0 * row.gpairs);
      }
      EXPECT_NE(rows[5].message.find("computes only the plain convolution"), std::string::npos)
          << rows[5].message;
      EXPECT_EQ(rows[5].outcome, Outcome::skipped);
      if (direction == Direction::transposed) {
        for (const BenchResult& row : rows) EXPECT_EQ(row.outcome, Outcome::skipped) << row.message;
        // The plan's own refusal is the reason.
        EXPECT_NE(rows[0].message.find("transposed convolution is the adjoint"), std::string::npos)
            << rows[0].message;
        continue;
      }
      EXPECT_EQ(rows[0].outcome, Outcome::measured) << rows[0].message;
      EXPECT_GT(rows[0].gpairs_per_s(), 0.0);
      EXPECT_DOUBLE_EQ(rows[0].gpairs_per_s(), rows[0].gflops() / 2.0);
      EXPECT_EQ(rows[1].outcome, Outcome::measured) << rows[1].message;
      EXPECT_EQ(rows[2].outcome, Outcome::skipped) << rows[2].message;  // winograd: convolution only
      EXPECT_EQ(rows[3].outcome, Outcome::measured) << rows[3].message;
      EXPECT_EQ(agreeing.run_count, 1 + 1 + 3);
      EXPECT_EQ(rows[4].outcome, Outcome::mismatch) << rows[4].message;
      EXPECT_EQ(ignores_op.run_count, 1);
      ASSERT_EQ(rows[0].ratios.size(), 3u);
      EXPECT_GT(rows[0].ratios[0].ratio, 0.0);
    }
  }
}

// The gradients of an operation other than the convolution get a buffer for the forward operand
// they read (counted in tensor_bytes); the plain convolution's, given by name or by default, do
// not, so runs without --op are unchanged.
TEST(BenchPeers, ForwardOperandOnlyForInnerOpGradients) {
  const fastconv::Engine engines[] = {fastconv::Engine::im2col};
  const std::size_t src_bytes = 3 * 81 * sizeof(float);
  const std::size_t weight_bytes = 4 * 3 * 9 * sizeof(float);
  const std::size_t plain = (3 * 81 + 4 * 3 * 9 + 4 * 81) * sizeof(float);
  for (Direction direction : kAllDirections) {
    SCOPED_TRACE(direction_name(direction));
    FakePeer convolution_only("convolution_only", 0.0f);
    const Peer* peers[] = {&convolution_only};
    for (const fastconv::InnerOp& op : {fastconv::InnerOp(), fastconv::InnerOp::catalog("mul_sum")}) {
      LayerBench bench(kTinyLayer, problem_string(kTinyLayer), direction, op);
      const std::vector<BenchResult> rows = bench.run(engines, peers, fast_config());
      ASSERT_EQ(rows.size(), 2u);
      EXPECT_EQ(rows[0].op, "mul_sum");
      EXPECT_EQ(rows[0].tensor_bytes, plain);
      EXPECT_EQ(rows[0].outcome, Outcome::measured) << rows[0].message;
      EXPECT_EQ(rows[1].outcome, Outcome::measured) << rows[1].message;
    }
    LayerBench bench(kTinyLayer, problem_string(kTinyLayer), direction,
                     fastconv::InnerOp::catalog("sq_diff_sum"));
    const std::vector<BenchResult> rows = bench.run(engines, {}, fast_config());
    ASSERT_EQ(rows.size(), 1u);
    const std::size_t extra = direction == Direction::backward_data      ? src_bytes
                              : direction == Direction::backward_weights ? weight_bytes
                                                                         : 0;
    EXPECT_EQ(rows[0].tensor_bytes, plain + extra);
    // mul_sum with a non-zero pad value is an inner operation too.
    LayerBench padded(kTinyLayer, problem_string(kTinyLayer), direction,
                      fastconv::InnerOp::catalog("mul_sum").pad_value(1.0));
    EXPECT_EQ(padded.run(engines, {}, fast_config())[0].tensor_bytes, plain + extra);
  }
}

// --alloc: with BenchConfig::allocate_outputs (the default) the peers are asked to allocate their
// output in every run() and fastconv's timed runs write into buffers of their own (the operands'
// output keeps the checked result); without it neither does. Either way every direction's rows
// are measured and the peer's result is checked first.
TEST(BenchPeers, OutputAllocationIsTheSameForEverySide) {
  const Layer layer = conv2d("strided", 2, 4, 6, 10, 3).stride(2).pad(1);
  for (const bool allocate : {true, false}) {
    for (Direction direction : kAllDirections) {
      SCOPED_TRACE(std::string(direction_name(direction)) + (allocate ? " call" : " none"));
      FakePeer agreeing("agreeing", 0.0f);
      FakePeer wrong("wrong", 0.5f);
      const fastconv::Engine engines[] = {fastconv::Engine::automatic};
      const Peer* peers[] = {&agreeing, &wrong};
      BenchConfig config = fast_config();
      config.allocate_outputs = allocate;
      LayerBench bench(layer, problem_string(layer), direction);
      const std::vector<BenchResult> rows = bench.run(engines, peers, config);
      ASSERT_EQ(rows.size(), 3u);
      EXPECT_EQ(rows[0].outcome, Outcome::measured) << rows[0].message;
      EXPECT_EQ(rows[0].timing.runs, 3);
      EXPECT_EQ(rows[1].outcome, Outcome::measured) << rows[1].message;
      EXPECT_EQ(rows[2].outcome, Outcome::mismatch) << rows[2].message;
      EXPECT_EQ(agreeing.allocate_output, allocate);
      EXPECT_EQ(wrong.allocate_output, allocate);
      EXPECT_GT(rows[0].ratios[0].ratio, 0.0);
      for (const BenchResult& row : rows) EXPECT_EQ(row.output_alloc, allocate ? "call" : "none");
    }
  }
  EXPECT_TRUE(BenchConfig().allocate_outputs);  // as a user's call: allocation timed
  EXPECT_TRUE(PeerProblem{.layer = layer}.allocate_output);
}

}  // namespace
}  // namespace fastconv_bench
