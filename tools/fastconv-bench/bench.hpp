// bench.hpp — benchmark one layer with one engine at a time.
//
// A LayerBench owns one layer's operands (random src and weight, and dst), allocated and filled
// once, on the first engine that is actually measured, and reused by the following engines.
// run() creates the ConvPlan outside the timed region, skips the reference engine above the
// GFLOP limit, then times ConvPlan::run() with a workspace allocated beforehand. run() does not
// throw: an exception from the library comes back as Outcome::failed with its message.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "fastconv/engine.hpp"
#include "layer.hpp"
#include "timing.hpp"

namespace fastconv_bench {

struct BenchConfig {
  TimingPolicy timing;
  double reference_max_gflop = 0.0;  // the reference engine is skipped above this (see cli.hpp)
};

enum class Outcome { measured, skipped, failed };

struct BenchResult {
  std::string layer;
  std::string problem;
  std::string engine;        // the engine asked for: "auto", "reference" or "im2col"
  std::string engine_label;  // for the table: `engine`, or "auto(im2col)" naming auto's choice
  int threads = 0;
  double gflop = 0.0;  // ConvPlan::flop_count() / 1e9; 0 if no plan could be created
  Timing timing;       // valid when measured
  std::size_t workspace_bytes = 0;
  Outcome outcome = Outcome::failed;
  std::string message;  // why the run was skipped or failed
  std::string warning;  // e.g. a flop_count() that disagrees with the direct count

  double gflops() const { return timing.median_ms > 0.0 ? gflop / (timing.median_ms * 1e-3) : 0.0; }
};

class LayerBench {
 public:
  LayerBench(const Layer& layer, std::string problem);
  ~LayerBench();
  LayerBench(const LayerBench&) = delete;
  LayerBench& operator=(const LayerBench&) = delete;

  BenchResult run(fastconv::Engine engine, const BenchConfig& config);

 private:
  struct Operands;
  void plan_and_measure(fastconv::Engine engine, const BenchConfig& config, BenchResult& result);

  Layer layer_;
  std::string problem_;
  std::unique_ptr<Operands> operands_;  // created on the first measurement
};

}  // namespace fastconv_bench
