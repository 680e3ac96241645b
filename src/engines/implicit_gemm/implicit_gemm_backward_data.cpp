// implicit_gemm_backward_data.cpp — implicit_gemm's backward_data (see
// implicit_gemm_engine.hpp): per stride phase, the forward of the flipped kernel.
#include <algorithm>
#include <atomic>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "engines/implicit_gemm/implicit_gemm_engine.hpp"
#include "engines/implicit_gemm/implicit_gemm_setup.hpp"
#include "engines/reference/reference_conv.hpp"

namespace fastconv::detail {
namespace {

// backward_data (also the transposed convolution), per group and per phase of src:
//   src[i] = sum over taps t and dst positions o with o * s = i + p - t * d of dst[o] w[t]
// (per axis: stride s, dilation d, pad p). Polyphase: src's positions i = s * m + phi of one
// phase phi receive exactly the taps t with t * d = phi + p (mod s), an arithmetic progression
// t0 + j * step (step = s / gcd(s, d)), from dst[m + c0 - j * e] (e = d / gcd(s, d)): a
// stride-1 backward_data of the phase (a view of src with s times its strides) with that
// sub-kernel (taps t0 + j * step), dilation e and padding c0. No zero is inserted, none
// multiplied. At stride 1 there is one phase, the whole problem.
// A stride-1 backward_data is the forward convolution of dst (K/g channels) with the kernel
// flipped on every axis and its channel axes swapped (a view of the weights: no copy; packed
// like the forward's, see taps_reversed_contiguous), padded by (kernel extent - 1) - pad on each
// side (a negative padding crops dst instead), writing src (C/g channels, plus the bias). The
// padding's zeros are its only extra products: where a weight is NaN or infinite, padding times
// it would give NaN where backward_data (and the reference) has no such product, so a run whose
// packing sees one is redone by the reference engine (exact, slow; only for such weights). A
// phase that no tap or no dst position reaches gets the bias (or zero).
struct BackwardPhase {
  SpatialArray phase{0, 0, 0};      // src's first position (phi) per axis
  SpatialArray src_size{0, 0, 0};   // positions of src in the phase
  SpatialArray tap_last{0, 0, 0};   // the sub-kernel's last tap in the original kernel
  SpatialArray tap_step{1, 1, 1};   // original taps between consecutive sub-kernel taps
  SpatialArray crop{0, 0, 0};       // dst elements skipped at the start of each axis
  ConvGeometry flipped;             // the forward convolution of one group (stride 1)
  bool empty = false;               // no product reaches the phase: bias or zero
  std::unique_ptr<PreparedConv> prepared;  // the flipped forward (prepare_igemm_forward); null when empty
};

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The phase `phase` of backward_data problem g (src positions phase[axis] + s * m).
BackwardPhase backward_phase(const ConvGeometry& g, const SpatialArray& phase) {
  BackwardPhase b;
  b.phase = phase;
  ConvGeometry sub = g;  // stride-1 backward_data of the phase, as its forward geometry
  for (std::size_t axis = 0; axis < 3; ++axis) {
    const std::int64_t s = g.stride[axis], d = g.dilation[axis], k = g.kernel[axis], p = g.pad_begin[axis];
    const std::int64_t phi = phase[axis];
    b.src_size[axis] = (g.in[axis] - phi + s - 1) / s;
    const std::int64_t common = std::gcd(s, d), step = s / common, e = d / common;
    // The first tap t0 with t0 * d = phi + p (mod s): t0 * (d / common) = (phi + p) / common
    // (mod step), when common divides phi + p.
    std::int64_t t0 = -1;
    if ((phi + p) % common == 0)
      for (std::int64_t t = 0; t < std::min(k, step); ++t)
        if ((t * d - phi - p) % s == 0) {
          t0 = t;
          break;
        }
    const std::int64_t taps = t0 < 0 ? 0 : (k - t0 + step - 1) / step;
    if (taps == 0 || b.src_size[axis] == 0) {
      b.empty = true;
      continue;
    }
    const std::int64_t c0 = floor_div(phi + p - t0 * d, s);  // exact
    b.tap_last[axis] = t0 + (taps - 1) * step;
    b.tap_step[axis] = step;
    sub.stride[axis] = 1;
    sub.dilation[axis] = e;
    sub.kernel[axis] = taps;
    sub.in[axis] = b.src_size[axis];
    // Forward form: dst[o] reads src_phase[o + j * e - c0], i.e. padding c0 before.
    sub.pad_begin[axis] = c0;
    sub.pad_end[axis] = g.out[axis] - b.src_size[axis] - c0 + (taps - 1) * e;
  }
  if (b.empty) return b;
  // The flipped forward of one group.
  ConvGeometry& h = b.flipped;
  h = sub;
  h.groups = 1;
  h.in_channels = g.out_channels_per_group();
  h.out_channels = g.in_channels_per_group();
  h.in = sub.out;
  h.out = sub.in;
  for (std::size_t axis = 0; axis < 3; ++axis) {
    const std::int64_t extent = (sub.kernel[axis] - 1) * sub.dilation[axis];
    std::int64_t begin = extent - sub.pad_begin[axis];
    std::int64_t end = sub.in[axis] - sub.out[axis] + extent - begin;
    if (begin < 0) b.crop[axis] = -begin, h.in[axis] += begin, begin = 0;
    if (end < 0) h.in[axis] += end, end = 0;
    h.pad_begin[axis] = begin;
    h.pad_end[axis] = end;
    if (h.in[axis] <= 0) b.empty = true;  // no dst position reaches the phase
  }
  return b;
}

// backward_data runs one stride-1 problem per phase of its stride, at most this many (more go
// to im2col: each phase re-reads dst).
constexpr std::int64_t kBackwardDataMaxPhases = 16;

// Most workspace per thread a phase's flipped forward may take (its usual slot is <= 1 MiB).
constexpr std::size_t kBackwardDataMaxSlotBytes = 8 << 20;

// Every phase of backward_data problem g, in order.
std::vector<BackwardPhase> backward_phases(const ConvGeometry& g) {
  std::vector<BackwardPhase> phases;
  SpatialArray phase{0, 0, 0};
  for (phase[0] = 0; phase[0] < std::min(g.stride[0], g.in[0]); ++phase[0])
    for (phase[1] = 0; phase[1] < std::min(g.stride[1], g.in[1]); ++phase[1])
      for (phase[2] = 0; phase[2] < std::min(g.stride[2], g.in[2]); ++phase[2])
        phases.push_back(backward_phase(g, phase));
  return phases;
}

// Why backward_data is not taken this way, or empty.
std::string backward_data_decline(const ConvProblem& problem) {
  if (problem.dtype != DType::float32) return "float32 only";
  if (!problem.convolution()) return decline_unless_convolution(problem);
  const ConvGeometry& g = problem.geometry;
  if (g.stride[0] * g.stride[1] * g.stride[2] > kBackwardDataMaxPhases)
    return "backward_data with " + std::to_string(g.stride[0] * g.stride[1] * g.stride[2]) + " stride phases (takes <= " +
           std::to_string(kBackwardDataMaxPhases) + ")";
  // The flipped forward's padding is the kernel's extent: a huge dilation over a small dst would
  // make one tile's window (mostly padding) huge. im2col's chunks stay bounded there.
  for (const BackwardPhase& phase : backward_phases(g))
    if (!phase.empty)
      if (const std::size_t slot = igemm_setup(phase.flipped).slot_bytes; slot > kBackwardDataMaxSlotBytes)
        return "backward_data whose flipped kernel's window needs " + std::to_string(slot >> 20) + " MiB per thread";
  return {};
}

class PreparedImplicitGemmBackwardData final : public TypedPreparedConv<PreparedImplicitGemmBackwardData, true> {
 public:
  static constexpr Engine kEngine = Engine::implicit_gemm;
  explicit PreparedImplicitGemmBackwardData(const ConvProblem& problem)
      : TypedPreparedConv(problem), phases_(backward_phases(problem.geometry)),
        exact_(std::move(reference_engine().prepare(problem).prepared)) {
    for (BackwardPhase& phase : phases_)
      if (!phase.empty)
        phase.prepared = prepare_igemm_forward(
            ConvProblem{Direction::forward, phase.flipped, problem.dtype, problem.max_threads, problem.op});
  }
  std::size_t workspace_bytes() const override {
    std::size_t bytes = 0;
    for (const BackwardPhase& phase : phases_)
      if (phase.prepared) bytes = std::max(bytes, phase.prepared->workspace_bytes());
    return bytes;
  }
  std::string kernel_name() const override {
    for (const BackwardPhase& phase : phases_)
      if (phase.prepared)
        return phase.prepared->kernel_name() + " (flipped kernel, " + std::to_string(phases_.size()) + " phases)";
    return "none (no product)";
  }

  void run_typed(const ConvOperands<float>& x, void* workspace, int threads) const {
    const ConvGeometry& g = geometry();
    const std::int64_t cg = g.in_channels_per_group(), kg = g.out_channels_per_group();
    const auto& ws = x.weight.strides;
    for (const BackwardPhase& phase : phases_) {
      View5<float> src = x.src;  // the phase's positions
      for (std::size_t axis = 0; axis < 3; ++axis) {
        src.data += phase.phase[axis] * x.src.strides[2 + axis];
        src.strides[2 + axis] *= g.stride[axis];
        src.shape[2 + axis] = phase.src_size[axis];
      }
      if (phase.empty) {
        fill_bias(src, x.bias);
        continue;
      }
      for (std::int64_t group = 0; group < g.groups; ++group) {
        ConvOperands<float> y;
        y.src = x.dst;
        y.src.data = x.dst.data + group * kg * x.dst.strides[1];
        y.src.shape[1] = kg;
        for (std::size_t axis = 0; axis < 3; ++axis) {
          y.src.data += phase.crop[axis] * x.dst.strides[2 + axis];
          y.src.shape[2 + axis] = phase.flipped.in[axis];
        }
        y.dst = src;
        y.dst.data = src.data + group * cg * src.strides[1];
        y.dst.shape[1] = cg;
        // weight' (c, k, j) = weight (group * K/g + k, c, tap_last - j * tap_step): the sub-kernel
        // flipped, channel axes swapped.
        y.weight.data = x.weight.plane(group * kg, 0) + phase.tap_last[0] * ws[2] + phase.tap_last[1] * ws[3] +
                        phase.tap_last[2] * ws[4];
        y.weight.shape = {cg, kg, phase.flipped.kernel[0], phase.flipped.kernel[1], phase.flipped.kernel[2]};
        y.weight.strides = {ws[1], ws[0], -phase.tap_step[0] * ws[2], -phase.tap_step[1] * ws[3],
                            -phase.tap_step[2] * ws[4]};
        if (x.bias.data != nullptr) y.bias = {x.bias.data + group * cg * x.bias.stride, x.bias.stride};
        std::atomic<bool> nonfinite{false};
        run_igemm_forward(*phase.prepared, y, workspace, threads, &nonfinite);
        if (nonfinite.load(std::memory_order_relaxed)) return exact_->run(x, workspace, threads);
      }
    }
  }

 private:
  // src (one phase's view) = the bias per channel, or zero.
  static void fill_bias(const View5<float>& src, const Vector1<float>& bias) {
    for (std::int64_t n = 0; n < src.shape[0]; ++n)
      for (std::int64_t c = 0; c < src.shape[1]; ++c) {
        const float value = bias.data != nullptr ? bias[c] : 0.0f;
        for (std::int64_t i = 0; i < src.shape[2]; ++i)
          for (std::int64_t j = 0; j < src.shape[3]; ++j)
            for (std::int64_t l = 0; l < src.shape[4]; ++l) src.at(n, c, i, j, l) = value;
      }
  }

  std::vector<BackwardPhase> phases_;
  std::unique_ptr<PreparedConv> exact_;  // the reference engine's (no workspace)
};

}  // namespace

Preparation prepare_igemm_backward_data(const ConvProblem& problem) {
  if (std::string reason = backward_data_decline(problem); !reason.empty()) return Preparation::decline(std::move(reason));
  return Preparation::take(std::make_unique<PreparedImplicitGemmBackwardData>(problem));
}

}  // namespace fastconv::detail
