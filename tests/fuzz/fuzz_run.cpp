// fuzz_run.cpp — see fuzz_run.hpp.
#include "fuzz_run.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_operand.hpp"
#include "fuzz_oracle.hpp"

namespace fcfuzz {
namespace fc = fastconv;

namespace {

// Issue 17 wants every plan's workspace bounded independently of the image size (im2col's is a
// whole unfolded image today). Accepted: this much, plus a few copies of the weights (packing).
constexpr double kWorkspaceAllowance = double(std::size_t(64) << 20);
constexpr double kWorkspaceWeightCopies = 8;

// Open defects whose findings are skipped, so that a run can look past them: comma-separated
// tags, FASTCONV_FUZZ_KNOWN_DEFAULT (tests/fuzz/CMakeLists.txt, the one list: CI's fuzzing and
// the corpus replay both use it) unless the environment variable FASTCONV_FUZZ_KNOWN is set.
//   winograd-overflow     winograd's non-finite outputs where no summation order overflows:
//                         its transforms overflow on inputs or weights near FLT_MAX (defect 4)
//   unbounded-workspace   workspace_bytes() above the bound of check_workspace_bound (defect 5):
//                         the engine is skipped
//   igemm-setup-loop      implicit_gemm's plan set-up loops over every tile of an output row
//                         (row_cost): problems with rows wider than 2^20 are skipped
bool known(const char* tag) {
  static const std::string list = [] {
    const char* value = std::getenv("FASTCONV_FUZZ_KNOWN");
    return std::string(",") + (value ? value : FASTCONV_FUZZ_KNOWN_DEFAULT) + ",";
  }();
  return list.find(std::string(",") + tag + ",") != std::string::npos;
}

bool printing() {  // FASTCONV_FUZZ_PRINT=1: each engine's outcome after the case
  static const bool on = [] {
    const char* value = std::getenv("FASTCONV_FUZZ_PRINT");
    return value && *value == '1';
  }();
  return on;
}

// Thrown by a check that a known defect (above) makes meaningless for this engine.
struct Skipped {};

[[noreturn]] void fail(const Case& c, const std::string& engine, const std::string& what) {
  const char* isa = std::getenv("FASTCONV_MAX_ISA");
  std::fprintf(stderr, "\n== fastconv fuzz failure ==\n%s\n  engine: %s, FASTCONV_MAX_ISA=%s\n  case: %s\n",
               what.c_str(), engine.c_str(), isa ? isa : "(unset)", describe(c).c_str());
  std::fflush(stderr);
  std::abort();
}

// What one engine did with the call.
struct Outcome {
  bool accepted = false;
  bool skipped = false;  // a known defect (FASTCONV_FUZZ_KNOWN) stopped the check
  fc::ErrorKind kind = fc::ErrorKind::invalid_argument;
  std::string message;
  fc::Engine chosen = fc::Engine::reference;  // conv kinds: the plan's engine
};

// A caller-supplied workspace of exactly the bytes asked for (AddressSanitizer sees its end),
// or one misaligned by 8 bytes, or none.
class Workspace {
 public:
  Workspace(std::size_t bytes, bool caller, bool misaligned) {
    if (!caller) return;
    size_ = std::max<std::size_t>(misaligned ? bytes + 64 : bytes, 1);
    block_ = static_cast<unsigned char*>(::operator new(size_, std::align_val_t(64)));
    pointer_ = misaligned ? block_ + 8 : block_;
  }
  ~Workspace() {
    if (block_) ::operator delete(block_, std::align_val_t(64));
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  void* pointer() const { return pointer_; }

 private:
  std::size_t size_ = 0;
  unsigned char* block_ = nullptr;
  unsigned char* pointer_ = nullptr;
};

fc::ConvArgs conv_args(const Case& c, const std::vector<OperandBuffer>& buffers) {
  fc::ConvArgs args;
  fc::TensorView* slots[] = {&args.src,      &args.weight,   &args.bias,        &args.dst,
                             &args.diff_dst, &args.diff_src, &args.diff_weight, &args.diff_bias};
  for (std::size_t i = 0; i < c.operands.size(); ++i) *slots[c.operands[i].slot] = buffers[i].view();
  return args;
}

// Logical contents of every written operand (for the run-twice comparison).
std::vector<std::vector<double>> written_values(const std::vector<OperandBuffer>& buffers) {
  std::vector<std::vector<double>> values;
  for (const auto& buffer : buffers) {
    if (!buffer.spec().written) continue;
    values.emplace_back();
    for (std::int64_t i = 0; i < buffer.numel(); ++i) values.back().push_back(buffer.get(i));
  }
  return values;
}

bool same_bits_or_both_nan(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}

// Calls `body` and turns its fastconv::Error into a refusal; any other exception is a failure.
template <typename Body>
Outcome attempt(const Case& c, const char* engine, Body&& body) {
  Outcome outcome;
  try {
    body(outcome);
    outcome.accepted = true;
  } catch (const Skipped&) {
    outcome.skipped = true;
  } catch (const fc::Error& error) {
    outcome.kind = error.kind();
    outcome.message = error.what();
    if (outcome.message.empty()) fail(c, engine, "fastconv::Error with an empty message");
  } catch (const std::exception& other) {
    fail(c, engine, std::string("threw a non-fastconv exception: ") + other.what());
  } catch (...) {
    fail(c, engine, "threw something that is not a std::exception");
  }
  return outcome;
}

// The workspace may hold a bounded scratch area and copies of the weights, nothing that grows
// with the image (kWorkspaceAllowance + kWorkspaceWeightCopies x the weight's bytes).
void check_workspace_bound(const Case& c, const fc::ConvPlan& plan) {
  double weight_bytes = 0;
  for (const auto& spec : c.operands) {
    if (std::string(spec.name) != "weight" && std::string(spec.name) != "diff_weight") continue;
    weight_bytes = double(fc::dtype_size(c.dtype));
    for (const auto extent : spec.shape) weight_bytes *= double(extent);
  }
  const double bound = kWorkspaceAllowance + kWorkspaceWeightCopies * weight_bytes;
  if (double(plan.workspace_bytes()) <= bound) return;
  if (known("unbounded-workspace")) throw Skipped{};
  fail(c, fc::engine_name(plan.engine()),
       "workspace_bytes() = " + std::to_string(plan.workspace_bytes()) + " exceeds " +
           std::to_string(bound) + " (64 MiB + 8 copies of the weights): the workspace must not "
           "grow with the image");
}

// One engine on a conv kind: plan (threads_at_plan), optional packing, run (threads_at_run),
// again when asked, with identical bits expected.
void run_conv(const Case& c, std::vector<OperandBuffer>& buffers, fc::Engine engine, Outcome& outcome) {
  fc::ConvArgs args = conv_args(c, buffers);
  fc::set_num_threads(c.threads_at_plan);
  fc::ConvPlan plan(conv_kind(c.operation), args, c.params, engine);
  outcome.chosen = plan.engine();
  if (c.pack_weights && args.weight.rank != 0) {
    plan.pack_weights(args.weight);
    args.weight = fc::TensorView{};
  }
  fc::set_num_threads(c.threads_at_run);
  check_workspace_bound(c, plan);
  const Workspace workspace(plan.workspace_bytes(), c.caller_workspace, c.misaligned_workspace);
  plan.run(args, workspace.pointer());
  if (!c.run_twice) return;
  const auto first = written_values(buffers);
  plan.run(args, workspace.pointer());
  const auto second = written_values(buffers);
  for (std::size_t k = 0; k < first.size(); ++k)
    for (std::size_t i = 0; i < first[k].size(); ++i)
      if (!same_bits_or_both_nan(first[k][i], second[k][i]))
        fail(c, fc::engine_name(engine),
             "a second run of the same plan gave different bits at element " + std::to_string(i) +
                 ": " + std::to_string(first[k][i]) + " then " + std::to_string(second[k][i]));
}

// The checks after one engine's call, whatever it did.
void check_outcome(const Case& c, const std::vector<OperandBuffer>& buffers,
                   const std::vector<std::vector<unsigned char>>& before, const Outcome& outcome,
                   fc::Engine engine, const std::optional<Oracle>& oracle, bool must_refuse,
                   const std::string& why_refuse) {
  const std::string name = fc::engine_name(engine);
  if (outcome.skipped) return;
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    if (buffers[i].unchanged_since(before[i])) continue;
    if (!buffers[i].spec().written) fail(c, name, std::string("changed input ") + buffers[i].spec().name);
    if (!outcome.accepted)
      fail(c, name, "refused (" + outcome.message + ") after changing " + buffers[i].spec().name);
  }
  if (!outcome.accepted) return;
  if (must_refuse) fail(c, name, "accepted a call it must refuse: " + why_refuse);
  if (!oracle) fail(c, name, "accepted a call that the reference refuses on float64 copies");
  std::size_t output = 0;
  for (const auto& buffer : buffers) {
    if (!buffer.spec().written) continue;
    if (!buffer.gaps_hold_sentinel())
      fail(c, name, std::string("wrote outside the elements of ") + buffer.spec().name);
    for (std::int64_t i = 0; i < buffer.numel(); ++i) {
      if (buffer.sentinel_at(i))
        fail(c, name, std::string("left element ") + std::to_string(i) + " of " + buffer.spec().name + " unwritten");
      const double v = buffer.get(i);
      if (auto problem = judge(c, *oracle, output, i, v)) {
        if (outcome.chosen == fc::Engine::winograd && !std::isfinite(v) && known("winograd-overflow"))
          continue;
        fail(c, name + " (ran as " + fc::engine_name(outcome.chosen) + ")",
             std::string(buffer.spec().name) + " element " + std::to_string(i) + ": " + *problem);
      }
    }
    ++output;
  }
}

// Engines must agree on what they accept (see fuzz_run.hpp).
void check_agreement(const Case& c, const std::vector<Outcome>& outcomes, bool expect_valid) {
  std::size_t reference = 0, automatic = 0;
  for (std::size_t k = 0; k < std::size(fc::kAllEngines); ++k) {
    if (fc::kAllEngines[k] == fc::Engine::reference) reference = k;
    if (fc::kAllEngines[k] == fc::Engine::automatic) automatic = k;
  }
  const Outcome& ref = outcomes[reference];
  if (ref.skipped) return;
  if (!ref.accepted && expect_valid) fail(c, "reference", "refused a valid call: " + ref.message);
  for (std::size_t k = 0; k < outcomes.size(); ++k) {
    const Outcome& o = outcomes[k];
    if (o.skipped) continue;
    const std::string name = fc::engine_name(fc::kAllEngines[k]);
    if (ref.accepted && !o.accepted && (k == automatic || o.kind != fc::ErrorKind::engine_declined))
      fail(c, name, "refused (" + std::string(fc::error_kind_name(o.kind)) + ": " + o.message +
                        ") what the reference accepts");
    if (!ref.accepted && o.accepted) fail(c, name, "accepted what the reference refuses: " + ref.message);
    if (!ref.accepted && o.kind != ref.kind && (k == automatic || o.kind != fc::ErrorKind::engine_declined))
      fail(c, name, "refused with " + std::string(fc::error_kind_name(o.kind)) + " (" + o.message +
                        ") where the reference says " + fc::error_kind_name(ref.kind) + " (" + ref.message + ")");
  }
}

// Shapes too large to allocate: plans are made (or refused) by every engine, and a run with
// null data must be refused, never attempted.
void plan_only(const Case& c) {
  std::vector<fc::TensorView> views;
  for (const auto& spec : c.operands) {
    fc::TensorView view;
    view.dtype = c.dtype;
    view.rank = int(spec.shape.size());
    for (std::size_t a = 0; a < spec.shape.size(); ++a) view.shape[a] = spec.shape[a];
    views.push_back(view);  // null data, zero strides
  }
  for (const fc::Engine engine : fc::kAllEngines) {
    const char* name = fc::engine_name(engine);
    const Outcome outcome = attempt(c, name, [&](Outcome&) {
      if (is_conv(c.operation)) {
        fc::ConvArgs args;
        fc::TensorView* slots[] = {&args.src,      &args.weight,   &args.bias,        &args.dst,
                                   &args.diff_dst, &args.diff_src, &args.diff_weight, &args.diff_bias};
        for (std::size_t i = 0; i < c.operands.size(); ++i) *slots[c.operands[i].slot] = views[i];
        fc::set_num_threads(c.threads_at_plan);
        const fc::ConvPlan plan(conv_kind(c.operation), args, c.params, engine);
        (void)plan.description();
        check_workspace_bound(c, plan);
        plan.run(args);
      } else if (c.operation == Operation::unfold) {
        fc::unfold(views[0], views[1], c.kernel_size, c.params, engine);
      } else if (c.operation == Operation::fold) {
        fc::fold(views[0], views[1], c.kernel_size, c.params, engine);
      } else {
        (void)fc::windows(views[0], c.kernel_size, c.window_stride, c.window_dilation);
      }
    });
    if (outcome.accepted) fail(c, name, "ran a problem whose operands have null data");
    if (!outcome.skipped && outcome.kind != fc::ErrorKind::invalid_argument &&
        outcome.kind != fc::ErrorKind::overflow && outcome.kind != fc::ErrorKind::engine_declined &&
        outcome.kind != fc::ErrorKind::out_of_memory)
      fail(c, name, "refused huge operands with null data as " +
                        std::string(fc::error_kind_name(outcome.kind)) + ": " + outcome.message);
    if (c.operation == Operation::windows) return;
  }
}

void check_windows(const Case& c, const std::vector<OperandBuffer>& buffers, bool must_refuse,
                   const std::string& why_refuse) {
  const fc::TensorView src = buffers[0].view();
  const int dims = c.dims;
  // The expected view, in 128-bit arithmetic. Zero channels are left open (torch accepts them).
  bool valid = src.shape[0] >= 0 && src.shape[1] >= 0, representable = true;
  const std::size_t axes = std::size_t(dims);
  std::vector<std::int64_t> out(axes), step(axes), tap(axes);
  for (int i = 0; i < dims; ++i) {
    const __int128 n = src.shape[2 + i], k = c.kernel_size[std::size_t(i)];
    const __int128 s = c.window_stride[std::size_t(i)], d = c.window_dilation[std::size_t(i)];
    if (n < 1 || k < 1 || s < 1 || d < 1) {
      valid = false;
      continue;
    }
    const __int128 extent = d * (k - 1) + 1;
    if (extent > n) {
      valid = false;
      continue;
    }
    out[std::size_t(i)] = std::int64_t((n - extent) / s + 1);
    const __int128 window_step = __int128(src.strides[2 + i]) * s, tap_step = __int128(src.strides[2 + i]) * d;
    const __int128 top = std::numeric_limits<std::int64_t>::max(), bottom = std::numeric_limits<std::int64_t>::min();
    if (window_step > top || window_step < bottom || tap_step > top || tap_step < bottom) representable = false;
    step[std::size_t(i)] = std::int64_t(window_step);
    tap[std::size_t(i)] = std::int64_t(tap_step);
  }
  fc::TensorView result;
  const auto before = buffers[0].snapshot();
  const Outcome outcome = attempt(c, "windows", [&](Outcome&) {
    result = fc::windows(src, c.kernel_size, c.window_stride, c.window_dilation);
  });
  if (!buffers[0].unchanged_since(before)) fail(c, "windows", "changed src");
  if (!outcome.accepted) {
    if (!must_refuse && valid && representable && !c.chaos && src.shape[1] >= 1)
      fail(c, "windows", "refused a valid call: " + outcome.message);
    return;
  }
  if (must_refuse) fail(c, "windows", "accepted a call it must refuse: " + why_refuse);
  if (!valid) fail(c, "windows", "accepted invalid sizes or parameters");
  if (!representable) fail(c, "windows", "returned strides that do not fit 64 bits");
  if (result.rank != 2 + 2 * dims || result.data != src.data || result.dtype != src.dtype)
    fail(c, "windows", "returned a view of the wrong rank, data or dtype");
  for (int i = 0; i < 2; ++i)
    if (result.shape[i] != src.shape[i] || result.strides[i] != src.strides[i])
      fail(c, "windows", "changed the batch or channel axis");
  for (int i = 0; i < dims; ++i) {
    if (result.shape[2 + i] != out[std::size_t(i)] || result.strides[2 + i] != step[std::size_t(i)] ||
        result.shape[2 + dims + i] != c.kernel_size[std::size_t(i)] || result.strides[2 + dims + i] != tap[std::size_t(i)])
      fail(c, "windows", "axis " + std::to_string(i) + ": shape or strides differ from the formula");
  }
  // Every element (or an even sample of them) is a real element of src: read it through the view.
  std::int64_t count = 1;
  for (int a = 0; a < result.rank; ++a) count *= result.shape[a];
  const std::int64_t stride = std::max<std::int64_t>(1, count / 100'000);
  const std::size_t element = fc::dtype_size(src.dtype);
  for (std::int64_t linear = 0; linear < count; linear += stride) {
    std::int64_t rest = linear, offset = 0;
    for (int a = result.rank; a-- > 0;) {
      offset += (rest % result.shape[a]) * result.strides[a];
      rest /= result.shape[a];
    }
    unsigned char bytes[8];
    std::memcpy(bytes, static_cast<const unsigned char*>(result.data) + offset * std::int64_t(element), element);
  }
}

}  // namespace

void run_case(const Case& c) {
  if (known("igemm-setup-loop")) {  // rows this wide take implicit_gemm's set-up minutes
    for (const auto& spec : c.operands)
      if (spec.shape.size() >= 3 && spec.shape.back() > (std::int64_t(1) << 20)) return;
  }
  if (c.too_big) return plan_only(c);
  SplitMix rng(c.seed);
  std::vector<OperandBuffer> buffers;
  for (const auto& spec : c.operands) buffers.emplace_back(spec, c.dtype, rng);

  // Faults first (misalignment reallocates), then values; then what must be refused.
  bool must_refuse = c.shapes_refused;
  std::string why_refuse = c.shapes_refused ? "the shape functions refuse these shapes" : "";
  auto refuse_because = [&](const std::string& why) {
    must_refuse = true;
    why_refuse += (why_refuse.empty() ? "" : "; ") + why;
  };
  OperandBuffer& target = buffers[std::size_t(c.fault_operand)];
  switch (c.fault) {
    case Fault::none: break;
    case Fault::misaligned:
      if (target.numel() > 0) {
        const int element = int(fc::dtype_size(c.dtype));
        target.misalign(1 + c.fault_amount % (element - 1));
        refuse_because(std::string(target.spec().name) + " is misaligned");
      }
      break;
    case Fault::overflowing_stride:
      if (target.set_overflowing_stride(c.fault_amount))
        refuse_because(std::string(target.spec().name) + "'s byte range overflows");
      break;
    case Fault::aliases_input: {
      OperandBuffer* output = nullptr;
      const OperandBuffer* input = nullptr;
      for (auto& buffer : buffers) {
        // A packed weight is not an operand of the run (the plan holds a copy): not a target.
        const bool packed = c.pack_weights && std::string(buffer.spec().name) == "weight";
        if (buffer.spec().written && !output) output = &buffer;
        if (!buffer.spec().written && !input && buffer.numel() > 0 && !packed) input = &buffer;
      }
      if (output && input && output->numel() > 0) {
        output->alias_into(*input, c.fault_amount);
        refuse_because(std::string(output->spec().name) + " lies inside " + input->spec().name);
      }
      break;
    }
  }
  for (auto& buffer : buffers)
    if (!buffer.spec().written) fill_values(buffer, role_of(c.operation, buffer.spec()), c.values, rng);
  for (const auto& buffer : buffers)
    if (buffer.spec().written && buffer.overlaps_itself())
      refuse_because(std::string(buffer.spec().name) + " overlaps itself");
  if (is_conv(c.operation) && c.caller_workspace && c.misaligned_workspace)
    refuse_because("the workspace is misaligned");

  if (c.operation == Operation::windows) return check_windows(c, buffers, must_refuse, why_refuse);

  const std::optional<Oracle> oracle = must_refuse ? std::nullopt : compute_oracle(c, buffers);
  std::vector<Outcome> outcomes;
  for (const fc::Engine engine : fc::kAllEngines) {
    for (auto& buffer : buffers)
      if (buffer.spec().written) buffer.fill_sentinel();
    std::vector<std::vector<unsigned char>> before;
    for (const auto& buffer : buffers) before.push_back(buffer.snapshot());
    const char* name = fc::engine_name(engine);
    const Outcome outcome = attempt(c, name, [&](Outcome& o) {
      if (is_conv(c.operation)) {
        run_conv(c, buffers, engine, o);
      } else {
        o.chosen = engine;
        fc::set_num_threads(c.threads_at_run);
        if (c.operation == Operation::unfold)
          fc::unfold(buffers[0].view(), buffers[1].view(), c.kernel_size, c.params, engine);
        else
          fc::fold(buffers[0].view(), buffers[1].view(), c.kernel_size, c.params, engine);
      }
    });
    check_outcome(c, buffers, before, outcome, engine, oracle, must_refuse, why_refuse);
    outcomes.push_back(outcome);
  }
  if (printing()) {
    for (std::size_t k = 0; k < outcomes.size(); ++k)
      std::fprintf(stderr, "  %s: %s\n", fc::engine_name(fc::kAllEngines[k]),
                   outcomes[k].accepted ? (std::string("ran as ") + fc::engine_name(outcomes[k].chosen)).c_str()
                                        : outcomes[k].message.c_str());
  }
  check_agreement(c, outcomes, !c.chaos && !must_refuse);
}

}  // namespace fcfuzz
