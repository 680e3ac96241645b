// bench.hpp — benchmark one layer in one direction with one inner operation: fastconv engines
// and peer libraries side by side.
//
// LayerBench::run() allocates the layer's operands once — buffers of the forward layer's src,
// weight and dst shapes; the two the direction reads (direction.hpp) random, the one it writes
// zeroed; for the gradients of an inner operation other than the convolution also a random
// buffer of the forward operand they read (forward_operand_role()) — then for every fastconv
// engine, and after them every peer:
//   1. prepares it (ConvPlan with the operation + workspace, or Peer::prepare) and runs it once,
//      inside a PeakMemoryProbe: the row's memory figures are what that preparation and first
//      run made resident beyond the shared operands (for a peer this includes its own output
//      tensor);
//   2. a peer's result is compared with fastconv's (output_check.hpp) — a mismatch is reported
//      as Outcome::mismatch and the peer is not timed.
// Then all prepared contestants are timed interleaved (timing.hpp) — with
// BenchConfig::allocate_outputs each fastconv run writes into a buffer it allocates (and the
// previous run's is freed), as the peers' calls allocate theirs; without it into the operands' —
// with BenchConfig::scaling
// also every fastconv plan at 1 thread, and with machine figures an FMA burst last in each round
// (Roofline::percent_of_round_peak) — and each fastconv row gets the ratio peer median /
// fastconv median for every measured peer. With BenchConfig::profile,
// each measured fastconv row is then run again with the library's phase profiler on
// (fastconv/profile.hpp; never during the timed rounds) and gets a PhaseProfile. The reference
// engine is skipped above the GFLOP limit. run() does not throw: an exception from a library comes back
// as Outcome::failed with its message; an engine that declines the layer is Outcome::skipped, and
// so is a direction the operation does not have (a transposed convolution of an operation other
// than the convolution: the plan's refusal is the row's reason).
#pragma once

#include <cstddef>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fastconv/engine.hpp"
#include "fastconv/inner_op.hpp"
#include "layer.hpp"
#include "machine.hpp"
#include "direction.hpp"
#include "memory.hpp"
#include "peers/peer.hpp"
#include "phase_profile.hpp"
#include "timing.hpp"

namespace fastconv_bench {

inline constexpr double kNotApplicable = std::numeric_limits<double>::quiet_NaN();

struct BenchConfig {
  TimingPolicy timing;
  double reference_max_gflop = 0.0;  // the reference engine is skipped above this (see cli.hpp)
  int threads = 1;                   // for the peers; fastconv's is set by the caller
  bool packed_weights = false;       // fastconv plans get the weights once (ConvPlan::pack_weights)
  // Every timed call allocates the memory of its output (fastconv's: a new buffer per run; the
  // peers': PeerProblem::allocate_output), or none does (--alloc none).
  bool allocate_outputs = true;
  const MachineFigures* machine = nullptr;  // for the roofline columns; may be null
  bool profile = false;              // fastconv rows get a PhaseProfile (--profile)
  bool scaling = false;              // fastconv rows also timed at 1 thread (--scaling)
};

enum class Outcome { measured, skipped, failed, mismatch };
const char* outcome_name(Outcome outcome);

struct PeerRatio {
  std::string peer;
  double ratio = kNotApplicable;  // peer median / this row's median; NaN if either is missing
};

struct BenchResult {
  std::string layer;
  std::string problem;
  std::string direction = "fwd";  // direction_name()
  std::string op = "mul_sum";     // the inner operation's catalog name (--op)
  double pad_value = 0.0;         // what its padded positions read as (--pad-value)
  std::int64_t input_size = 0;      // the largest input spatial axis (what --sweep grows)
  std::int64_t input_elements = 0;  // product of the input spatial axes
  std::string library;       // "fastconv" or the peer's name
  std::string engine;        // the fastconv engine asked for ("auto", "im2col", ...) or the peer
  std::string engine_label;  // for the table: `engine`, or "auto(im2col)" naming auto's choice
  int threads = 0;
  // "call": the timed calls allocated their outputs (BenchConfig::allocate_outputs); "none".
  std::string output_alloc = "call";
  double gflop = 0.0;   // 2 * multiply-adds / 1e9 (direct_flop_count)
  double gpairs = 0.0;  // pair-operations / 1e9 (direct_pair_count: gflop / 2, for every op)
  Timing timing;       // valid when measured
  Outcome outcome = Outcome::failed;
  std::string message;  // why the run was skipped or failed, or how the result mismatched
  std::string warning;  // e.g. a flop_count() that disagrees with the direct count

  std::size_t workspace_bytes = 0;  // fastconv: the plan's; peers: as they report it
  std::size_t tensor_bytes = 0;     // src + weight + dst (+ the forward operand an op's gradient reads)
  MemoryUse memory;                 // measured around preparation and the first run
  double max_abs_error = kNotApplicable;  // peers: against fastconv's result

  Roofline roofline;               // when measured and the machine figures are known
  // fastconv rows with BenchConfig::scaling and threads > 1: the same plan's median at 1 thread,
  // timed in the same rounds, over this row's median; NaN otherwise.
  double speedup_over_one_thread = kNotApplicable;
  std::vector<PeerRatio> ratios;  // fastconv rows: one per peer asked for
  PhaseProfile profile;           // fastconv rows with BenchConfig::profile

  double gflops() const { return timing.median_ms > 0.0 ? gflop / (timing.median_ms * 1e-3) : 0.0; }
  // Billions of pair-operations (one combine + reduce) per second.
  double gpairs_per_s() const { return timing.median_ms > 0.0 ? gpairs / (timing.median_ms * 1e-3) : 0.0; }
};

class LayerBench {
 public:
  // `op`: the inner operation every contestant computes (fastconv/inner_op.hpp; by default the
  // plain convolution). Peers that cannot compute it skip (PeerUnsupported).
  LayerBench(const Layer& layer, std::string problem, Direction direction = Direction::forward,
             fastconv::InnerOp op = {});
  ~LayerBench();
  LayerBench(const LayerBench&) = delete;
  LayerBench& operator=(const LayerBench&) = delete;

  // Rows in order: `engines`, then `peers`.
  std::vector<BenchResult> run(std::span<const fastconv::Engine> engines,
                               std::span<const Peer* const> peers, const BenchConfig& config);

 private:
  struct Operands;
  struct Contestant;
  BenchResult new_result() const;
  // Each appends its Contestant (for results[row]) when it is ready to be timed.
  void prepare_engine(fastconv::Engine engine, const BenchConfig& config, std::size_t row,
                      BenchResult& result, std::vector<Contestant>& contestants);
  void prepare_peer(const Peer& peer, const BenchConfig& config, bool have_fastconv_result,
                    std::size_t row, BenchResult& result, std::vector<Contestant>& contestants);

  void profile_engine(const Contestant& contestant, const BenchConfig& config,
                      BenchResult& result) const;

  Layer layer_;
  std::string problem_;
  Direction direction_;
  fastconv::InnerOp op_;
  std::unique_ptr<Operands> operands_;
};

}  // namespace fastconv_bench
