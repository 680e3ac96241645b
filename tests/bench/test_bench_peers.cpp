// test_bench_peers.cpp — LayerBench with injected fake peers: a peer whose result agrees with
// fastconv's is timed side by side and gets a ratio; a peer whose result differs is reported as
// a mismatch and never timed; a peer that cannot prepare the layer is a failed row.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <vector>

#include "bench.hpp"
#include "fastconv/plan.hpp"
#include "fastconv/tensor.hpp"

namespace fastconv_bench {
namespace {

const Layer kTinyLayer = conv2d("tiny", 1, 3, 4, 9, 3).pad(1);

// Computes the layer with fastconv's reference engine into its own buffer, then adds `error`
// to one element. Counts its run() calls.
class FakePeerLayer final : public PeerLayer {
 public:
  FakePeerLayer(const PeerProblem& problem, float error, int& run_count)
      : layer_(problem.layer), src_(problem.src), weight_(problem.weight), error_(error),
        run_count_(run_count) {
    std::int64_t count = 1;
    for (std::int64_t size : dst_shape(layer_)) count *= size;
    dst_.assign(std::size_t(count), 0.0f);
  }

  void run() override {
    using fastconv::DType;
    using fastconv::TensorView;
    fastconv::ConvArgs args;
    args.src = TensorView::contiguous(const_cast<float*>(src_), DType::float32, src_shape(layer_));
    args.weight =
        TensorView::contiguous(const_cast<float*>(weight_), DType::float32, weight_shape(layer_));
    args.dst = TensorView::contiguous(dst_.data(), DType::float32, dst_shape(layer_));
    fastconv::ConvPlan(fastconv::ConvKind::forward, args, conv_params(layer_),
                       fastconv::Engine::reference)
        .run(args);
    dst_[5] += error_;
    ++run_count_;
  }
  const float* dst() override { return dst_.data(); }

 private:
  Layer layer_;
  const float* src_;
  const float* weight_;
  float error_;
  int& run_count_;
  std::vector<float> dst_;
};

class FakePeer final : public Peer {
 public:
  FakePeer(std::string name, float error) : name_(std::move(name)), error_(error) {}
  std::string name() const override { return name_; }
  std::unique_ptr<PeerLayer> prepare(const PeerProblem& problem) const override {
    if (error_ < 0) throw std::runtime_error("cannot run this layer");
    return std::make_unique<FakePeerLayer>(problem, error_, run_count);
  }
  mutable int run_count = 0;

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
  // 2 * 4 * 27 * 81 FLOP over 2364 bytes is below the ridge point of 10 FLOP/byte.
  EXPECT_TRUE(rows[0].roofline.memory_bound);
  EXPECT_GT(rows[0].roofline.percent_of_bandwidth_roofline, 0.0);
}

}  // namespace
}  // namespace fastconv_bench
