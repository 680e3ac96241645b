// bench.cpp — operand set-up, preparation (with memory probe and result check) of every
// contestant of a layer, and their interleaved timing.
#include "bench.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <random>
#include <sstream>
#include <utility>

#include "aligned_buffer.hpp"
#include "fastconv/error.hpp"
#include "fastconv/plan.hpp"
#include "fastconv/profile.hpp"
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

// Buffers of the forward layer's src, weight and dst shapes: the direction's inputs random, its
// output zeroed; with `forward_operand_read` (the gradients of an operation other than the
// convolution) one more random buffer for the forward operand they read.
struct LayerBench::Operands {
  Operands(const Layer& layer, Direction direction, bool forward_operand_read)
      : src(make(layer, direction, Role::src, 1)),
        weight(make(layer, direction, Role::weight, 2)),
        dst(make(layer, direction, Role::dst, 3)),
        forward_operand(forward_operand_read ? make_forward_operand(layer, direction)
                                             : AlignedBuffer()),
        args(direction_args(layer, direction, src.data(), weight.data(), dst.data())),
        written(fastconv_bench::output_role(direction)) {
    if (forward_operand_read) {
      args = with_forward_operand(args, layer, direction, forward_operand.data());
    }
  }

  std::size_t bytes() const {
    return src.bytes() + weight.bytes() + dst.bytes() + forward_operand.bytes();
  }
  const float* data(Role role) const {
    const AlignedBuffer& buffer = role == Role::src ? src : role == Role::weight ? weight : dst;
    return static_cast<const float*>(buffer.data());
  }
  const float* input(Role role) const { return role == written ? nullptr : data(role); }
  // The forward operand of `role` (forward_operand_role()), or null.
  const float* forward(Role role, Direction direction) const {
    if (forward_operand_role(direction) != role) return nullptr;
    return static_cast<const float*>(forward_operand.data());
  }
  std::size_t output_count() const {
    const AlignedBuffer& buffer = written == Role::src ? src : written == Role::weight ? weight : dst;
    return buffer.bytes() / sizeof(float);
  }

  AlignedBuffer src;
  AlignedBuffer weight;
  AlignedBuffer dst;
  AlignedBuffer forward_operand;  // empty unless the direction's op gradient reads one
  fastconv::ConvArgs args;
  Role written;  // the direction's output

 private:
  static AlignedBuffer make(const Layer& layer, Direction direction, Role role, std::uint32_t seed) {
    const std::int64_t count = element_count(role_shape(layer, role));
    return role == fastconv_bench::output_role(direction) ? zeroed_floats(count) : random_floats(count, seed);
  }
  static AlignedBuffer make_forward_operand(const Layer& layer, Direction direction) {
    const std::optional<Role> role = forward_operand_role(direction);
    return role ? random_floats(element_count(role_shape(layer, *role)), 4) : AlignedBuffer();
  }
};

// The view of the output `direction` writes in `args`.
static fastconv::TensorView& output_view(fastconv::ConvArgs& args, Direction direction) {
  switch (direction) {
    case Direction::forward:
    case Direction::transposed: return args.dst;
    case Direction::backward_data: return args.diff_src;
    case Direction::backward_weights: return args.diff_weight;
  }
  return args.dst;
}

// A prepared fastconv engine or peer, ready to be timed.
struct LayerBench::Contestant {
  std::size_t row = 0;  // index of its BenchResult
  std::unique_ptr<fastconv::ConvPlan> plan;
  fastconv::ConvArgs args;  // the plan's operands (no weight when it has packed weights)
  AlignedBuffer workspace;
  AlignedBuffer output;        // BenchConfig::allocate_outputs: the last timed run's output
  std::size_t output_bytes = 0;
  std::unique_ptr<PeerLayer> peer_layer;

  // One timed fastconv call; with `allocate_output` into a buffer it allocates, as a user's
  // call allocates its result (the previous one is freed first, as a user's loop frees it).
  void run_plan(Direction direction, bool allocate_output) {
    if (!allocate_output) {
      plan->run(args, workspace.data());
      return;
    }
    output = AlignedBuffer();
    output = AlignedBuffer(output_bytes);
    fastconv::ConvArgs fresh = args;
    output_view(fresh, direction).data = output.data();
    plan->run(fresh, workspace.data());
  }
};

LayerBench::LayerBench(const Layer& layer, std::string problem, Direction direction,
                       fastconv::InnerOp op)
    : layer_(layer), problem_(std::move(problem)), direction_(direction), op_(std::move(op)) {}

LayerBench::~LayerBench() = default;

BenchResult LayerBench::new_result() const {
  BenchResult result;
  result.layer = std::string(layer_.name);
  result.problem = problem_;
  result.direction = direction_name(direction_);
  result.op = op_.table().name;
  result.pad_value = op_.pad_value();
  result.input_elements = 1;
  for (int axis = 0; axis < layer_.spatial_dims; ++axis) {
    result.input_size = std::max(result.input_size, layer_.input[axis]);
    result.input_elements *= layer_.input[axis];
  }
  result.gflop = direct_flop_count(layer_) * 1e-9;
  result.gpairs = direct_pair_count(layer_) * 1e-9;
  result.tensor_bytes = operands_ ? operands_->bytes() : 0;
  return result;
}

// Median over the timing rounds of the row's GFLOP/s against the FMA burst's in the same round,
// in percent (the burst executed burst_flops each time).
static double median_round_peak_percent(double gflop, const Timing& row, const Timing& burst, double burst_flops) {
  std::vector<double> percents;
  for (std::size_t round = 0; round < row.samples_ms.size() && round < burst.samples_ms.size(); ++round) {
    const double row_gflops = gflop * 1e3 / row.samples_ms[round];
    const double burst_gflops = burst_flops * 1e-6 / burst.samples_ms[round];
    percents.push_back(row_gflops / burst_gflops * 100.0);
  }
  return percents.empty() ? kNotApplicable : summarize(std::move(percents)).median_ms;
}

std::vector<BenchResult> LayerBench::run(std::span<const fastconv::Engine> engines,
                                         std::span<const Peer* const> peers,
                                         const BenchConfig& config) {
  std::vector<BenchResult> results;
  std::vector<Contestant> contestants;
  if (!operands_) {
    BenchResult invalid = new_result();
    invalid.library = "fastconv";
    // The plain convolution's gradients do not read the forward operands: none allocated.
    const bool forward_operand_read =
        !op_.is_convolution() && forward_operand_role(direction_).has_value();
    guarded(invalid, [&] {
      operands_ = std::make_unique<Operands>(layer_, direction_, forward_operand_read);
    });
    invalid.output_alloc = config.allocate_outputs ? "call" : "none";
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
      runs.emplace_back([&contestant, &config, this] {
        contestant.run_plan(direction_, config.allocate_outputs);
      });
    } else {
      runs.emplace_back([&contestant] { contestant.peer_layer->run(); });
    }
  }
  // With --scaling, every fastconv plan once more at 1 thread (the plan's workspace has a slot
  // per processor, so any thread count up to that runs it).
  std::vector<std::size_t> one_thread_of;  // contestant index of each such extra run
  if (config.scaling && config.threads > 1) {
    for (std::size_t index = 0; index < contestants.size(); ++index) {
      Contestant& contestant = contestants[index];
      if (!contestant.plan) continue;
      one_thread_of.push_back(index);
      runs.emplace_back([&contestant, &config, this] {
        fastconv::set_num_threads(1);
        contestant.run_plan(direction_, config.allocate_outputs);
        fastconv::set_num_threads(config.threads);
      });
    }
  }
  // The FMA burst runs last in every round: the peak the machine gave in that round.
  double burst_flops = 0.0;
  const bool with_burst = config.machine != nullptr && !runs.empty();
  if (with_burst) runs.emplace_back([&burst_flops, &config] { burst_flops = run_fma_burst(config.threads); });
  BenchResult timing_error;
  std::vector<Timing> timings;
  guarded(timing_error, [&] { timings = time_interleaved(runs, config.timing); });
  const bool timed = timings.size() == runs.size();
  std::vector<Timing> extra;  // the burst last, before it the 1-thread runs
  if (timed) {
    const std::size_t extras = one_thread_of.size() + (with_burst ? 1 : 0);
    extra.assign(std::make_move_iterator(timings.end() - std::ptrdiff_t(extras)),
                 std::make_move_iterator(timings.end()));
    timings.resize(contestants.size());
  }
  for (std::size_t i = 0; timed && i < one_thread_of.size(); ++i) {
    BenchResult& result = results[contestants[one_thread_of[i]].row];
    const double median = timings[one_thread_of[i]].median_ms;
    if (median > 0.0) result.speedup_over_one_thread = extra[i].median_ms / median;
  }
  for (std::size_t index = 0; index < contestants.size(); ++index) {
    BenchResult& result = results[contestants[index].row];
    if (!timed) {
      result.outcome = Outcome::failed;
      result.message = "while timing: " + timing_error.message;
      continue;
    }
    result.timing = timings[index];
    result.outcome = Outcome::measured;
    if (config.machine) {
      result.roofline = roofline(*config.machine, result.gflop * 1e9, double(result.tensor_bytes),
                                 result.timing.median_ms * 1e-3);
      if (with_burst)
        result.roofline.percent_of_round_peak =
            median_round_peak_percent(result.gflop, result.timing, extra.back(), burst_flops);
    }
  }

  if (config.profile) {
    for (const Contestant& contestant : contestants) {
      BenchResult& result = results[contestant.row];
      if (contestant.plan && result.outcome == Outcome::measured) {
        guarded(result, [&] { profile_engine(contestant, config, result); });
      }
    }
  }

  for (BenchResult& result : results) {
    result.output_alloc = config.allocate_outputs ? "call" : "none";
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
  try {
    // The plan takes the operands' shapes (their data pointers are ignored at creation).
    contestant.plan = std::make_unique<fastconv::ConvPlan>(
        conv_kind(direction_), operands_->args, conv_params(layer_, direction_), engine, op_);
  } catch (const fastconv::Error& error) {
    // An operation other than the convolution has no transposed form: the plan's refusal
    // (invalid_argument) is the reason of a skipped row, not a failure.
    if (direction_ != Direction::transposed || op_.is_convolution() ||
        error.kind() != fastconv::ErrorKind::invalid_argument) {
      throw;
    }
    result.outcome = Outcome::skipped;
    result.message = std::string("skipped: ") + error.what();
    return;
  }
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
  if (config.packed_weights && reads_weight(direction_)) {  // weights packed once, runs pass none
    contestant.plan->pack_weights(contestant.args.weight);
    contestant.args.weight = {};
    result.engine_label += "+packed";
  }
  contestant.workspace = AlignedBuffer(plan.workspace_bytes());
  contestant.output_bytes = operands_->output_count() * sizeof(float);
  plan.run(contestant.args, contestant.workspace.data());  // into the operands: checks the peers'
  if (config.allocate_outputs) contestant.run_plan(direction_, true);  // as in the timed calls
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
  std::unique_ptr<PeerLayer> peer_layer;
  try {
    peer_layer = peer.prepare({.layer = layer_,
                               .direction = direction_,
                               .src = operands_->input(Role::src),
                               .weight = operands_->input(Role::weight),
                               .dst = operands_->input(Role::dst),
                               .threads = config.threads,
                               .op = op_,
                               .forward_src = operands_->forward(Role::src, direction_),
                               .forward_weight = operands_->forward(Role::weight, direction_),
                               .allocate_output = config.allocate_outputs});
  } catch (const PeerUnsupported& unsupported) {
    result.outcome = Outcome::skipped;
    result.message = std::string("skipped: ") + unsupported.what();
    return;
  }
  peer_layer->run();
  result.memory = probe.finish();
  result.workspace_bytes = peer_layer->workspace_bytes();

  if (!have_fastconv_result) {
    result.outcome = Outcome::skipped;
    result.message = "skipped: no fastconv result to check this peer's result against";
    return;
  }
  const std::size_t count = operands_->output_count();
  const OutputComparison comparison =
      compare_outputs({operands_->data(operands_->written), count},
                      {peer_layer->result(), count}, reduction_length(layer_, direction_));
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

void LayerBench::profile_engine(const Contestant& contestant, const BenchConfig& config,
                                BenchResult& result) const {
  // At least 3 runs and min(--min-time, 0.2 s), at most 50 runs.
  constexpr int kMinRuns = 3, kMaxRuns = 50;
  const double min_seconds = std::min(config.timing.min_seconds, 0.2);
  fastconv::profile::reset();
  fastconv::profile::set_enabled(true);
  try {
    const auto start = std::chrono::steady_clock::now();
    for (int runs = 0; runs < kMaxRuns; ++runs) {
      const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
      if (runs >= kMinRuns && elapsed.count() >= min_seconds) break;
      contestant.plan->run(contestant.args, contestant.workspace.data());
    }
  } catch (...) {
    fastconv::profile::set_enabled(false);
    throw;
  }
  fastconv::profile::set_enabled(false);
  result.profile = summarize_profile(fastconv::profile::snapshot());
}

}  // namespace fastconv_bench
