// bench.cpp — plan creation, operand set-up and the timed ConvPlan::run() loop for one layer.
#include "bench.hpp"

#include <cmath>
#include <cstdint>
#include <exception>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

#include "aligned_buffer.hpp"
#include "fastconv/error.hpp"
#include "fastconv/plan.hpp"
#include "fastconv/tensor.hpp"
#include "fastconv/threading.hpp"

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

std::string engine_label(fastconv::Engine requested, fastconv::Engine chosen) {
  return requested == chosen ? fastconv::engine_name(requested)
                             : std::string(fastconv::engine_name(requested)) + "(" +
                                   fastconv::engine_name(chosen) + ")";
}

}  // namespace

struct LayerBench::Operands {
  explicit Operands(const Layer& layer)
      : src(random_floats(element_count(src_shape(layer)), /*seed=*/1)),
        weight(random_floats(element_count(weight_shape(layer)), /*seed=*/2)),
        dst(std::size_t(element_count(dst_shape(layer))) * sizeof(float)),
        args(forward_args(layer, src.data(), weight.data(), dst.data())) {}

  AlignedBuffer src;
  AlignedBuffer weight;
  AlignedBuffer dst;
  fastconv::ConvArgs args;
};

LayerBench::LayerBench(const Layer& layer, std::string problem)
    : layer_(layer), problem_(std::move(problem)) {}

LayerBench::~LayerBench() = default;

BenchResult LayerBench::run(fastconv::Engine engine, const BenchConfig& config) {
  BenchResult result;
  result.layer = std::string(layer_.name);
  result.problem = problem_;
  result.engine = fastconv::engine_name(engine);
  result.engine_label = result.engine;
  result.threads = fastconv::get_num_threads();
  try {
    plan_and_measure(engine, config, result);
  } catch (const fastconv::Error& error) {
    // An engine that does not take this layer is a skip, not a failure.
    const bool declined = error.kind() == fastconv::ErrorKind::engine_declined;
    result.outcome = declined ? Outcome::skipped : Outcome::failed;
    result.message = declined ? std::string("skipped: ") + error.what() : error.what();
  } catch (const std::exception& exception) {
    result.outcome = Outcome::failed;
    result.message = std::string("unexpected exception: ") + exception.what();
  }
  return result;
}

void LayerBench::plan_and_measure(fastconv::Engine engine, const BenchConfig& config,
                                  BenchResult& result) {
  const fastconv::ConvPlan plan(fastconv::ConvKind::forward,
                                forward_args(layer_, nullptr, nullptr, nullptr),
                                conv_params(layer_), engine);
  result.engine_label = engine_label(engine, plan.engine());
  result.gflop = plan.flop_count() * 1e-9;
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

  if (!operands_) operands_ = std::make_unique<Operands>(layer_);
  const AlignedBuffer workspace(plan.workspace_bytes());
  const fastconv::ConvArgs& args = operands_->args;
  result.timing = time_repeated([&] { plan.run(args, workspace.data()); }, config.timing);
  result.outcome = Outcome::measured;
}

}  // namespace fastconv_bench
