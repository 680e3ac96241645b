// conv_plan.cpp — ConvPlan: validation at creation, engine choice, checked runs; and the
// one-call convolution operations built on it.
#include "fastconv/plan.hpp"

#include <cstdlib>
#include <iostream>
#include <memory>
#include <new>
#include <optional>
#include <sstream>
#include <vector>

#include "core/aligned_buffer.hpp"
#include "core/format.hpp"
#include "core/parallel.hpp"
#include "core/profile.hpp"
#include "engines/conv_engine.hpp"
#include "fastconv/error.hpp"
#include "fastconv/ops.hpp"
#include "fastconv/plan_cache.hpp"
#include "plan/conv_geometry.hpp"
#include "plan/degenerate_runs.hpp"
#include "plan/operands.hpp"

namespace fastconv {

const char* conv_kind_name(ConvKind kind) {
  switch (kind) {
    case ConvKind::forward: return "conv_forward";
    case ConvKind::transposed: return "conv_transpose_forward";
    case ConvKind::backward_data: return "conv_backward_data";
    case ConvKind::backward_weights: return "conv_backward_weights";
  }
  return "conv_unknown";
}

namespace detail {
namespace {

// The operands in a fixed order; which ones a kind uses is decided by `expected` below.
constexpr int kOperandCount = 8;
constexpr int kWeight = 1;  // index of `weight` in that order
std::array<Operand, kOperandCount> operand_list(const ConvArgs& args, ConvKind kind) {
  const bool backward_weights = kind == ConvKind::backward_weights;
  return {{{"src", &args.src, false},
           {"weight", &args.weight, false},
           {"bias", &args.bias, false},
           {"dst", &args.dst, true},
           {"diff_dst", &args.diff_dst, false},
           {"diff_src", &args.diff_src, true},
           {"diff_weight", &args.diff_weight, backward_weights},
           {"diff_bias", &args.diff_bias, backward_weights}}};
}

// Which operands a kind needs (required), may take (optional) or must leave empty. The
// gradients of an inner operation other than the convolution also read the forward's src,
// weight and (optional) bias; the plain convolution's may be given them and does not read them.
enum class Use { unused, required, optional };
std::array<Use, kOperandCount> operand_uses(ConvKind kind, const InnerOp& op) {
  using enum Use;
  const Use forward_operand = op.is_convolution() ? optional : required;
  switch (kind) {
    case ConvKind::forward:
    case ConvKind::transposed:
      return {required, required, optional, required, unused, unused, unused, unused};
    case ConvKind::backward_data:
      return {forward_operand, required, optional, unused, required, required, unused, unused};
    case ConvKind::backward_weights:
      return {required, forward_operand, optional, unused, required, unused, required, optional};
  }
  return {};
}

std::int64_t shape_numel(const std::vector<std::int64_t>& shape) {
  std::int64_t count = 1;
  for (std::int64_t size : shape) count *= size;
  return count;
}

// Runs given no workspace take small ones from a buffer kept per thread: allocating and freeing
// a few KiB costs about a microsecond, as much as a small convolution. (Larger workspaces are
// allocated per run, so that a thread does not keep a large buffer alive.) A thread runs one
// plan at a time, so its buffer is never in use twice.
constexpr std::size_t kReusedWorkspaceBytes = std::size_t(1) << 20;
void* reused_workspace(std::size_t bytes, const char* operation) {
  thread_local AlignedBuffer buffer;
  thread_local std::size_t capacity = 0;
  if (bytes == 0) return nullptr;
  if (bytes > capacity) {
    buffer = AlignedBuffer();  // the old one goes first
    capacity = 0;
    buffer = AlignedBuffer(bytes, std::string(operation) + ": workspace");
    capacity = bytes;
  }
  return buffer.data();
}

template <typename T>
void copy_view5(const View5<T>& from, const View5<T>& to) {
  for (std::int64_t i0 = 0; i0 < from.shape[0]; ++i0)
    for (std::int64_t i1 = 0; i1 < from.shape[1]; ++i1)
      for (std::int64_t i2 = 0; i2 < from.shape[2]; ++i2)
        for (std::int64_t i3 = 0; i3 < from.shape[3]; ++i3)
          for (std::int64_t i4 = 0; i4 < from.shape[4]; ++i4)
            to.at(i0, i1, i2, i3, i4) = from.at(i0, i1, i2, i3, i4);
}

}  // namespace

class PlanImpl {
 public:
  PlanImpl(ConvKind kind, const ConvArgs& shapes, const ConvParams& params, Engine requested,
           const InnerOp& op)
      : kind_(kind), operation_(conv_kind_name(kind)), op_(op) {
    check_inner_op();
    const auto operands = operand_list(shapes, kind);
    const auto uses = operand_uses(kind, op_);
    for (int i = 0; i < kOperandCount; ++i) {
      const bool present = operands[i].view->rank != 0;
      if (uses[i] == Use::required && !present) {
        fail(std::string("argument ") + operands[i].name + " is required but empty (rank 0)");
      }
      if (uses[i] == Use::unused && present) {
        fail(std::string("argument ") + operands[i].name + " is not used by " + operation_ +
             "; leave it empty");
      }
      present_[i] = present;
    }
    // The first required operand sets the dtype; the others must match (checked in run too).
    for (int i = 0; i < kOperandCount; ++i) {
      if (!present_[i]) continue;
      check_dtype_supported(operation_, operands[i].name, operands[i].view->dtype);
      if (first_ < 0) {
        first_ = i;
        dtype_ = operands[i].view->dtype;
      } else if (operands[i].view->dtype != dtype_) {
        throw Error(ErrorKind::unsupported_dtype,
                    std::string(operation_) + ": " + operands[i].name + " is " +
                        dtype_name(operands[i].view->dtype) + " but " + operands[first_].name +
                        " is " + dtype_name(dtype_) + "; mixed dtypes are not supported");
      }
    }
    derive_geometry(shapes, params);
    check_operand_shapes(operands);

    const ConvProblem problem{direction_, geometry_, dtype_, prepared_max_threads(), &op_};
    Preparation preparation;
    const bool degenerate = is_degenerate(geometry_);
    if (degenerate) {  // N, C or K = 0: no engine computes the convolution (degenerate_runs.hpp);
                       // the reference stands in for the plan's queries (workspace 0, no
                       // packing) and runs inner operations' empty reductions
      preparation = engine_instance(Engine::reference).prepare(problem);
      why_ = "N, C or K = 0: every engine takes it, the plan or the reference writes the outputs";
    } else if (requested == Engine::automatic) {
      preparation = choose_and_prepare(problem, &why_);
    } else {
      preparation = engine_instance(requested).prepare(problem);
      if (!preparation.prepared) {
        throw Error(ErrorKind::engine_declined, std::string(operation_) + ": engine " +
                                                    engine_name(requested) +
                                                    " declines: " + preparation.decline_reason);
      }
      why_ = std::string(engine_name(requested)) + ": requested";
    }
    prepared_ = std::move(preparation.prepared);
    engine_ = !degenerate ? prepared_->engine() : requested == Engine::automatic ? Engine::reference : requested;
    workspace_bytes_ = prepared_->workspace_bytes();
    if (const char* verbose = std::getenv("FASTCONV_VERBOSE"); verbose && *verbose && *verbose != '0') {
      const std::string kernel = prepared_->kernel_name();
      std::clog << "fastconv: " << description() << (kernel.empty() ? "" : " kernel=" + kernel)
                << " [" << why_ << "]\n";
    }
  }

  ConvKind kind() const { return kind_; }
  Engine engine() const { return engine_; }
  std::size_t workspace_bytes() const { return workspace_bytes_; }
  double flop_count() const { return 2.0 * geometry_.multiply_adds(); }

  std::string description() const {
    std::ostringstream out;
    out << operation_ << " " << dtype_name(dtype_);
    const char* names[kOperandCount] = {"src", "weight", "bias", "dst",
                                        "diff_dst", "diff_src", "diff_weight", "diff_bias"};
    for (int i = 0; i < kOperandCount; ++i) {
      if (present_[i]) out << " " << names[i] << "=" << list_string(expected_[i]);
    }
    out << " " << params_string_;
    if (!op_.is_convolution()) out << " op=" << op_.description();
    out << " engine=" << engine_name(engine_) << " workspace=" << workspace_bytes_;
    return out.str();
  }

  void pack_weights(const TensorView& weight) {
    if (!present_[kWeight]) {
      fail(std::string("pack_weights: ") + operation_ + " reads no weight");
    }
    ConvArgs only_weight;
    only_weight.weight = weight;
    const auto operands = operand_list(only_weight, kind_);
    const std::vector<Shape> expected_weight{expected_[kWeight]};
    check_operands(("pack_weights of " + std::string(operation_)).c_str(), dtype_,
                   std::span<const Operand>(operands).subspan(kWeight, 1), expected_weight);
    // A contiguous copy, so runs do not depend on the caller's buffer staying alive.
    allocating(std::string("pack_weights of ") + operation_, [&] {
      std::vector<std::byte> copy(std::size_t(shape_numel(expected_[kWeight])) * dtype_size(dtype_));
      TensorView copy_view = TensorView::contiguous(copy.data(), dtype_, expected_[kWeight]);
      if (dtype_ == DType::float32) {
        copy_view5(to_view5<float>(weight), to_view5<float>(copy_view));
      } else {
        copy_view5(to_view5<double>(weight), to_view5<double>(copy_view));
      }
      std::unique_ptr<PackedWeights> packed =
          dtype_ == DType::float32 ? prepared_->pack_weights(to_view5<float>(copy_view))
                                   : prepared_->pack_weights(to_view5<double>(copy_view));
      weight_copy_ = std::move(copy);
      weight_view_ = TensorView::contiguous(weight_copy_.data(), dtype_, expected_[kWeight]);
      packed_ = std::move(packed);
    });
  }
  bool has_packed_weights() const { return weight_view_.rank != 0; }

  void run(const ConvArgs& given, void* workspace) const {
    const RunTimer run_timer;
    std::optional<ProfileScope> checks(std::in_place, Phase::other);
    // Runs of a plan with packed weights may leave the weight out.
    const bool use_packed = has_packed_weights() && given.weight.rank == 0;
    ConvArgs args = given;
    if (use_packed) args.weight = weight_view_;
    const auto operands = operand_list(args, kind_);
    for (int i = 0; i < kOperandCount; ++i) {
      const bool present = operands[i].view->rank != 0;
      if (present != present_[i]) {
        fail(std::string("argument ") + operands[i].name +
             (present ? " is set, but the plan was created without it"
                      : " is empty, but the plan was created with it"));
      }
    }
    check_operands(operation_, dtype_, operands, expected_);
    check_workspace(operation_, workspace, workspace_bytes_, operands);  // 64-byte aligned, apart

    AlignedBuffer owned;
    if (workspace == nullptr) {
      workspace = workspace_bytes_ <= kReusedWorkspaceBytes ? reused_workspace(workspace_bytes_, operation_)
                                                           : nullptr;
    }
    if (workspace == nullptr) {
      owned = AlignedBuffer(workspace_bytes_, std::string(operation_) + ": workspace");
      workspace = owned.data();
    }
    // The thread count is read once per run: set_num_threads() may change it meanwhile.
    const int threads = run_threads(prepared_->problem().max_threads);
    checks.reset();  // the engine's phases are its own
    const PackedWeights* packed = use_packed ? packed_.get() : nullptr;
    if (op_.is_convolution() &&
        (dtype_ == DType::float32 ? run_if_degenerate(direction_, geometry_, engine_operands<float>(args, packed))
                                  : run_if_degenerate(direction_, geometry_, engine_operands<double>(args, packed))))
      return;  // N, C or K = 0: the outputs are written without an engine (degenerate_runs.hpp)
    // (Engines allocate nothing inside their parallel regions; what they allocate outside them,
    // e.g. a bias copy, fails as an Error too.)
    allocating(operation_, [&] {
      if (dtype_ == DType::float32) {
        prepared_->run(engine_operands<float>(args, packed), workspace, threads);
      } else {
        prepared_->run(engine_operands<double>(args, packed), workspace, threads);
      }
    });
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw Error(ErrorKind::invalid_argument, std::string(operation_) + ": " + message);
  }

  // Inner operations other than the convolution: no transposed form (it is the convolution's
  // adjoint), and gradients only with derivatives.
  void check_inner_op() const {
    if (op_.is_convolution()) return;
    if (kind_ == ConvKind::transposed)
      fail("inner operation " + op_.description() +
           ": a transposed convolution is the adjoint of the plain convolution; only mul_sum with "
           "the bias epilogue and pad value 0 has one");
    if ((kind_ == ConvKind::backward_data || kind_ == ConvKind::backward_weights) && !op_.has_gradients())
      fail("inner operation " + op_.description() +
           " has no derivatives (define combine_dx and combine_dw, and epilogue_dy and epilogue_db "
           "for its own epilogue)");
  }

  void derive_geometry(const ConvArgs& shapes, const ConvParams& params) {
    params_string_ = params.to_string();
    switch (kind_) {
      case ConvKind::forward:
        direction_ = Direction::forward;
        geometry_ = forward_geometry(operation_, shapes.src.dims(), shapes.weight.dims(), params);
        set_expected(shapes.src.dims(), shapes.weight.dims(), {geometry_.out_channels},
                     geometry_.dst_shape(), {}, {}, {}, {});
        break;
      case ConvKind::transposed:
        direction_ = Direction::backward_data;
        geometry_ = transposed_geometry(operation_, shapes.src.dims(), shapes.weight.dims(), params);
        set_expected(shapes.src.dims(), shapes.weight.dims(), {geometry_.in_channels},
                     geometry_.src_shape(), {}, {}, {}, {});
        break;
      case ConvKind::backward_data:
        direction_ = Direction::backward_data;
        geometry_ = forward_geometry(operation_, shapes.diff_src.dims(), shapes.weight.dims(), params);
        // (src and bias: an inner operation's forward operands)
        set_expected(shapes.diff_src.dims(), shapes.weight.dims(), {geometry_.out_channels}, {},
                     geometry_.dst_shape(), shapes.diff_src.dims(), {}, {});
        break;
      case ConvKind::backward_weights:
        direction_ = Direction::backward_weights;
        geometry_ =
            forward_geometry(operation_, shapes.src.dims(), shapes.diff_weight.dims(), params);
        // (weight and bias: an inner operation's forward operands)
        set_expected(shapes.src.dims(), shapes.diff_weight.dims(), {geometry_.out_channels}, {},
                     geometry_.dst_shape(), {}, shapes.diff_weight.dims(), {geometry_.out_channels});
        break;
    }
  }

  using Shape = std::vector<std::int64_t>;
  void set_expected(std::span<const std::int64_t> src, std::span<const std::int64_t> weight,
                    Shape bias, Shape dst, Shape diff_dst, std::span<const std::int64_t> diff_src,
                    std::span<const std::int64_t> diff_weight, Shape diff_bias) {
    expected_ = {Shape(src.begin(), src.end()),       Shape(weight.begin(), weight.end()),
                 std::move(bias),                     std::move(dst),
                 std::move(diff_dst),                 Shape(diff_src.begin(), diff_src.end()),
                 Shape(diff_weight.begin(), diff_weight.end()), std::move(diff_bias)};
  }

  // Shapes given at creation must be the derived ones (e.g. dst of the right size).
  void check_operand_shapes(const std::array<Operand, kOperandCount>& operands) const {
    for (int i = 0; i < kOperandCount; ++i) {
      if (present_[i]) expect_shape(operation_, operands[i].name, operands[i].view->dims(), expected_[i]);
    }
  }

  // Maps the kind's operands onto the engine's forward-convolution roles.
  template <typename T>
  ConvOperands<T> engine_operands(const ConvArgs& args, const PackedWeights* packed) const {
    const auto bias_of = [](const TensorView& view) {
      return view.rank ? Vector1<T>{static_cast<T*>(view.data), view.strides[0]} : Vector1<T>{};
    };
    ConvOperands<T> x;
    switch (kind_) {
      case ConvKind::forward:
        x.src = to_view5<T>(args.src), x.weight = to_view5<T>(args.weight), x.dst = to_view5<T>(args.dst);
        x.bias = bias_of(args.bias);
        break;
      case ConvKind::transposed:  // the transposed output is the forward convolution's src
        x.src = to_view5<T>(args.dst), x.weight = to_view5<T>(args.weight), x.dst = to_view5<T>(args.src);
        x.bias = bias_of(args.bias);
        break;
      case ConvKind::backward_data:
        x.src = to_view5<T>(args.diff_src), x.weight = to_view5<T>(args.weight);
        x.dst = to_view5<T>(args.diff_dst);
        break;
      case ConvKind::backward_weights:
        x.src = to_view5<T>(args.src), x.weight = to_view5<T>(args.diff_weight);
        x.dst = to_view5<T>(args.diff_dst), x.bias = bias_of(args.diff_bias);
        break;
    }
    if (!op_.is_convolution() && kind_ != ConvKind::forward)  // an inner operation's gradients
      x.forward = {to_view5<T>(args.src), to_view5<T>(args.weight), bias_of(args.bias)};
    x.packed_weights = packed;
    return x;
  }

  ConvKind kind_;
  const char* operation_;
  Direction direction_ = Direction::forward;
  ConvGeometry geometry_;
  DType dtype_ = DType::float32;
  int first_ = -1;
  std::array<bool, kOperandCount> present_{};
  std::vector<Shape> expected_;
  std::string params_string_;
  Engine engine_ = Engine::reference;
  InnerOp op_;
  std::unique_ptr<PreparedConv> prepared_;
  std::size_t workspace_bytes_ = 0;
  std::string why_;
  std::vector<std::byte> weight_copy_;
  TensorView weight_view_{};
  std::unique_ptr<PackedWeights> packed_;
};

}  // namespace detail

ConvPlan::ConvPlan(ConvKind kind, const ConvArgs& shapes, const ConvParams& params, Engine engine)
    : ConvPlan(kind, shapes, params, engine, InnerOp()) {}
ConvPlan::ConvPlan(ConvKind kind, const ConvArgs& shapes, const ConvParams& params, Engine engine,
                   const InnerOp& op)
    : impl_(std::make_unique<detail::PlanImpl>(kind, shapes, params, engine, op)) {}
ConvPlan::~ConvPlan() = default;
ConvPlan::ConvPlan(ConvPlan&&) noexcept = default;
ConvPlan& ConvPlan::operator=(ConvPlan&&) noexcept = default;

ConvKind ConvPlan::kind() const { return impl_->kind(); }
Engine ConvPlan::engine() const { return impl_->engine(); }
std::size_t ConvPlan::workspace_bytes() const { return impl_->workspace_bytes(); }
double ConvPlan::flop_count() const { return impl_->flop_count(); }
std::string ConvPlan::description() const { return impl_->description(); }
void ConvPlan::run(const ConvArgs& args, void* workspace) const { impl_->run(args, workspace); }
void ConvPlan::pack_weights(const TensorView& weight) { impl_->pack_weights(weight); }
bool ConvPlan::has_packed_weights() const { return impl_->has_packed_weights(); }

// ---- one-call operations -----------------------------------------------------------------------

static TensorView optional_view(const TensorView* view) { return view ? *view : TensorView{}; }

static void run_once(ConvKind kind, const ConvArgs& args, const ConvParams& params, Engine engine) {
  cached_plan(kind, args, params, engine)->run(args);
}

void conv_forward(const TensorView& src, const TensorView& weight, const TensorView* bias,
                  const TensorView& dst, const ConvParams& params, Engine engine) {
  run_once(ConvKind::forward,
           {.src = src, .weight = weight, .bias = optional_view(bias), .dst = dst}, params, engine);
}

void conv_transpose_forward(const TensorView& src, const TensorView& weight, const TensorView* bias,
                            const TensorView& dst, const ConvParams& params, Engine engine) {
  run_once(ConvKind::transposed,
           {.src = src, .weight = weight, .bias = optional_view(bias), .dst = dst}, params, engine);
}

void conv_backward_data(const TensorView& diff_dst, const TensorView& weight,
                        const TensorView& diff_src, const ConvParams& params, Engine engine) {
  run_once(ConvKind::backward_data,
           {.weight = weight, .diff_dst = diff_dst, .diff_src = diff_src}, params, engine);
}

void conv_backward_weights(const TensorView& src, const TensorView& diff_dst,
                           const TensorView& diff_weight, const TensorView* diff_bias,
                           const ConvParams& params, Engine engine) {
  run_once(ConvKind::backward_weights,
           {.src = src, .diff_dst = diff_dst, .diff_weight = diff_weight,
            .diff_bias = optional_view(diff_bias)},
           params, engine);
}

}  // namespace fastconv
