// bench.cpp — operand set-up, preparation (with memory probe and result check) of every
// contestant of a layer, and their interleaved timing.
#include "bench.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <random>
#include <sstream>
#include <utility>

#include "aligned_buffer.hpp"
#include "fastconv/error.hpp"
#include "fastconv/plan.hpp"
#include "fastconv/tensor.hpp"
#include "fastconv/threading.hpp"
#include "output_check.hpp"

namespace fastconv_bench {
namespace {

std::int64_t element_count(const std::vector<std::int64_t>& shape) {
  std::int64_t count = 1;
  for (std::int64_t size : shape) count *= size;
  return count;
}

// Forward operands of `layer` as contiguous float32 views over the given memory (which may be
// null for plan creation: a plan only reads shapes and dtypes).
fastconv::ConvArgs forward_args(const Layer& layer, void* src, void* weight, void* dst) {
  using fastconv::DType;
  using fastconv::TensorView;
  fastconv::ConvArgs args;
  args.src = TensorView::contiguous(src, DType::float32, src_shape(layer));
  args.weight = TensorView::contiguous(weight, DType::float32, weight_shape(layer));
  args.dst = TensorView::contiguous(dst, DType::float32, dst_shape(layer));
  return args;
}

AlignedBuffer random_floats(std::int64_t count, std::uint32_t seed) {
  AlignedBuffer buffer(std::size_t(count) * sizeof(float));
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> distribution(-1.0f, 1.0f);
  float* values = static_cast<float*>(buffer.data());
  for (std::int64_t i = 0; i < count; ++i) values[i] = distribution(generator);
  return buffer;
}

// Zero-filled, so that its pages are resident before any memory probe.
AlignedBuffer zeroed_floats(std::int64_t count) {
  AlignedBuffer buffer(std::size_t(count) * sizeof(float));
  if (count > 0) std::memset(buffer.data(), 0, buffer.bytes());
  return buffer;
}

std::string engine_label(fastconv::Engine requested, fastconv::Engine chosen) {
  return requested == chosen ? fastconv::engine_name(requested)
                             : std::string(fastconv::engine_name(requested)) + "(" +
                                   fastconv::engine_name(chosen) + ")";
}

// Runs `prepare`, turning an exception into a skipped (engine declined) or failed result.
template <typename Function>
void guarded(BenchResult& result, Function&& prepare) {
  try {
    prepare();
  } catch (const fastconv::Error& error) {
    const bool declined = error.kind() == fastconv::ErrorKind::engine_declined;
    result.outcome = declined ? Outcome::skipped : Outcome::failed;
    result.message = declined ? std::string("skipped: ") + error.what() : error.what();
  } catch (const std::exception& exception) {
    result.outcome = Outcome::failed;
    result.message = std::string("unexpected exception: ") + exception.what();
  }
}

}  // namespace

const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::measured:
      return "measured";
    case Outcome::skipped:
      return "skipped";
    case Outcome::failed:
      return "failed";
    case Outcome::mismatch:
      return "mismatch";
  }
  return "?";
}

struct LayerBench::Operands {
  explicit Operands(const Layer& layer)
      : src(random_floats(element_count(src_shape(layer)), /*seed=*/1)),
        weight(random_floats(element_count(weight_shape(layer)), /*seed=*/2)),
        dst(zeroed_floats(element_count(dst_shape(layer)))),
        args(forward_args(layer, src.data(), weight.data(), dst.data())) {}

  std::size_t bytes() const { return src.bytes() + weight.bytes() + dst.bytes(); }

  AlignedBuffer src;
  AlignedBuffer weight;
  AlignedBuffer dst;
  fastconv::ConvArgs args;
};

// A prepared fastconv engine or peer, ready to be timed.
struct LayerBench::Contestant {
  std::size_t row = 0;  // index of its BenchResult
  std::unique_ptr<fastconv::ConvPlan> plan;
  fastconv::ConvArgs args;  // the plan's operands (no weight when it has packed weights)
  AlignedBuffer workspace;
  std::unique_ptr<PeerLayer> peer_layer;
};

LayerBench::LayerBench(const Layer& layer, std::string problem)
    : layer_(layer), problem_(std::move(problem)) {}

LayerBench::~LayerBench() = default;

BenchResult LayerBench::new_result() const {
  BenchResult result;
  result.layer = std::string(layer_.name);
  result.problem = problem_;
  result.gflop = direct_flop_count(layer_) * 1e-9;
  result.tensor_bytes = operands_ ? operands_->bytes() : 0;
  return result;
}

std::vector<BenchResult> LayerBench::run(std::span<const fastconv::Engine> engines,
                                         std::span<const Peer* const> peers,
                                         const BenchConfig& config) {
  std::vector<BenchResult> results;
  std::vector<Contestant> contestants;
  if (!operands_) {
    BenchResult invalid = new_result();
    invalid.library = "fastconv";
    guarded(invalid, [&] { operands_ = std::make_unique<Operands>(layer_); });
    if (!operands_) return {invalid};  // e.g. an invalid layer: one failed row
  }

  for (fastconv::Engine engine : engines) {
    results.push_back(new_result());
    const std::size_t row = results.size() - 1;
    guarded(results[row], [&] { prepare_engine(engine, config, row, results[row], contestants); });
  }
  // fastconv's result, in dst, exists if any engine ran.
  const bool have_fastconv_result = !contestants.empty();
  for (const Peer* peer : peers) {
    results.push_back(new_result());
    const std::size_t row = results.size() - 1;
    guarded(results[row], [&] {
      prepare_peer(*peer, config, have_fastconv_result, row, results[row], contestants);
    });
  }

  std::vector<std::function<void()>> runs;
  for (Contestant& contestant : contestants) {
    if (contestant.plan) {
      runs.emplace_back([&contestant, this] {
        contestant.plan->run(contestant.args, contestant.workspace.data());
      });
    } else {
      runs.emplace_back([&contestant] { contestant.peer_layer->run(); });
    }
  }
  BenchResult timing_error;
  std::vector<Timing> timings;
  guarded(timing_error, [&] { timings = time_interleaved(runs, config.timing); });
  for (std::size_t index = 0; index < contestants.size(); ++index) {
    BenchResult& result = results[contestants[index].row];
    if (timings.size() != contestants.size()) {
      result.outcome = Outcome::failed;
      result.message = "while timing: " + timing_error.message;
      continue;
    }
    result.timing = timings[index];
    result.outcome = Outcome::measured;
    if (config.machine) {
      result.roofline = roofline(*config.machine, result.gflop * 1e9, double(result.tensor_bytes),
                                 result.timing.median_ms * 1e-3);
    }
  }

  for (BenchResult& result : results) {
    if (result.library != "fastconv") continue;
    for (const Peer* peer : peers) {
      PeerRatio ratio{peer->name()};
      for (const BenchResult& other : results) {
        if (other.library == ratio.peer && other.outcome == Outcome::measured &&
            result.outcome == Outcome::measured && result.timing.median_ms > 0.0) {
          ratio.ratio = other.timing.median_ms / result.timing.median_ms;
        }
      }
      result.ratios.push_back(ratio);
    }
  }
  return results;
}

void LayerBench::prepare_engine(fastconv::Engine engine, const BenchConfig& config,
                                std::size_t row, BenchResult& result, std::vector<Contestant>& contestants) {
  result.library = "fastconv";
  result.engine = fastconv::engine_name(engine);
  result.engine_label = result.engine;
  result.threads = fastconv::get_num_threads();

  const PeakMemoryProbe probe;
  Contestant contestant;
  contestant.row = row;
  contestant.plan = std::make_unique<fastconv::ConvPlan>(
      fastconv::ConvKind::forward, forward_args(layer_, nullptr, nullptr, nullptr),
      conv_params(layer_), engine);
  const fastconv::ConvPlan& plan = *contestant.plan;
  result.engine_label = engine_label(engine, plan.engine());
  result.workspace_bytes = plan.workspace_bytes();

  const double direct_flops = direct_flop_count(layer_);
  if (std::abs(plan.flop_count() - direct_flops) > 1e-9 * direct_flops) {
    std::ostringstream warning;
    warning << "ConvPlan::flop_count() = " << plan.flop_count() << " but the direct count is "
            << direct_flops;
    result.warning = warning.str();
  }
  if (plan.engine() == fastconv::Engine::reference && result.gflop > config.reference_max_gflop) {
    std::ostringstream message;
    message << "skipped: " << result.gflop << " GFLOP > --reference-max-gflop "
            << config.reference_max_gflop;
    result.outcome = Outcome::skipped;
    result.message = message.str();
    return;
  }

  contestant.args = operands_->args;
  if (config.packed_weights) {  // inference: weights packed once, runs pass none
    contestant.plan->pack_weights(contestant.args.weight);
    contestant.args.weight = {};
    result.engine_label += "+packed";
  }
  contestant.workspace = AlignedBuffer(plan.workspace_bytes());
  plan.run(contestant.args, contestant.workspace.data());
  result.memory = probe.finish();
  contestants.push_back(std::move(contestant));
}

void LayerBench::prepare_peer(const Peer& peer, const BenchConfig& config,
                              bool have_fastconv_result, std::size_t row, BenchResult& result,
                              std::vector<Contestant>& contestants) {
  result.library = peer.name();
  result.engine = peer.name();
  result.engine_label = peer.name();
  result.threads = config.threads;

  const PeakMemoryProbe probe;
  std::unique_ptr<PeerLayer> peer_layer = peer.prepare(
      {.layer = layer_,
       .src = static_cast<const float*>(operands_->src.data()),
       .weight = static_cast<const float*>(operands_->weight.data()),
       .threads = config.threads});
  peer_layer->run();
  result.memory = probe.finish();
  result.workspace_bytes = peer_layer->workspace_bytes();

  if (!have_fastconv_result) {
    result.outcome = Outcome::skipped;
    result.message = "skipped: no fastconv result to check this peer's result against";
    return;
  }
  const std::size_t count = operands_->dst.bytes() / sizeof(float);
  const std::int64_t reduction_length =
      element_count(weight_shape(layer_)) / std::max<std::int64_t>(layer_.out_channels, 1);
  const OutputComparison comparison =
      compare_outputs({static_cast<const float*>(operands_->dst.data()), count},
                      {peer_layer->dst(), count}, reduction_length);
  result.max_abs_error = comparison.max_abs_error;
  if (!comparison.match) {
    result.outcome = Outcome::mismatch;
    result.message = "mismatch: " + comparison.message;
    return;
  }
  Contestant contestant;
  contestant.row = row;
  contestant.peer_layer = std::move(peer_layer);
  contestants.push_back(std::move(contestant));
}

}  // namespace fastconv_bench
