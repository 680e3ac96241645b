// engine_registry.cpp — the engines by id, and Engine::automatic's choice.
//
// The heuristic: the first engine in this order that takes the problem.
//   1. depthwise      C/groups == 1: direct loops doing C/g * kernel-volume work per output
//                     (im2col would run a GEMM with a reduction of only the kernel volume).
//   2. few_channels   forward float32 with C/groups <= 4 (photos, grayscale), or thin groups
//                     (C/groups, K/groups <= 16; for the convolution only, not for inner
//                     operations, whose channel tiles in implicit_gemm are faster there:
//                     mb16ic16ih32oc16oh32kh3ph1 abs_diff_sum 25 against 22 Gpairs/s) on output
//                     rows at least kThinGroupMinRow wide:
//                     output pixels in vector lanes reach bandwidth where output-channel lanes
//                     would idle. On narrower rows (ResNeXt's 14x14 and 7x7 stages) thin groups
//                     go to implicit_gemm, measured faster there (fastconv-bench, resnext_g32_c512_14).
//   3. pointwise      1x1, no padding, stride 1 (any stride forward: its input pixels read in
//                     two levels, row by row): a GEMM straight on the operands (its packing
//                     blocks are bounded), every direction and dtype.
//   4. winograd       forward float32, groups 1, kernels 3 wide at stride 1 and dilation 1 along W
//                     (it also takes dilation along W, in column phases, but its transforms then
//                     read and write strided rows: dilated_3x3_d2 on SPR 1.41 ms against
//                     implicit_gemm's 1.40, so auto leaves those to implicit_gemm), on AVX-512
//                     and AVX2, with 96 <= C * KD * KH <= 1024, K >= 32 and output rows >= 14:
//                     1.5x fewer multiply-adds on the implicit-GEMM kernels. Measured against
//                     implicit_gemm (fastconv-bench, 21 shapes per ISA, 1 and 2 threads): 1.0-1.5x faster
//                     on ResNet-50's res2-res4 3x3, audio_1d_k3, video_3d_k3, the wider 3x3 and
//                     the 1-D layers from C128; slower on C*KD*KH < 96 (C16, 1-D C64 mixed), on
//                     K = 16, and, at 2 threads, above 1024 (C512: weight chunks of one block).
//   5. implicit_gemm  every other forward float32 problem: output channels in vector lanes,
//                     bounded per-thread windows, packed weights; and backward_data (the
//                     transposed convolution) float32 at stride 1 with C/groups >= 16, as the
//                     forward of the flipped kernel (SPR, 1 thread, against im2col: res2_3x3 1.48
//                     against 1.97 ms, res5_3x3 2.87 against 3.54 ms). It takes strided
//                     backward_data too (one problem per stride phase), but auto leaves those to
//                     im2col, measured faster there (res4_3x3_s2 2.23 against 2.46 ms,
//                     res5_downsample 2.91 against 3.60 ms, conv1 3.6 against 10.6 ms: strided
//                     stores, sub-kernels packed element by element, C = 3).
//   6. im2col         everything else (backward_data left over, backward_weights, float64):
//                     explicit unfold + GEMM.
//   7. reference      never reached in practice (im2col takes every problem).
// Inner operations other than the convolution (fastconv/inner_op.hpp), float32: depthwise and
// few_channels (C/groups <= 4) take the forward at stride 1 along H and W with their direct
// plane path (engines/direct_op; depthwise abs_diff_sum 9.8 against implicit_gemm's 2.1 and
// im2col's 3.0 Gpairs/s, a 3-channel image 20.5 against 6.6 and 15.5); implicit_gemm every
// other forward (its channel tiles); im2col every direction; float64: the reference.
// FASTCONV_VERBOSE=1 prints each plan's choice and every engine's decline reason.
#include <cstdint>
#include <string>

#include "engines/conv_engine.hpp"
#include "engines/depthwise/depthwise_engine.hpp"
#include "engines/few_channels/few_channels_engine.hpp"
#include "engines/im2col/im2col_engine.hpp"
#include "engines/implicit_gemm/implicit_gemm_engine.hpp"
#include "engines/pointwise/pointwise_engine.hpp"
#include "engines/reference/reference_conv.hpp"
#include "engines/winograd/winograd_engine.hpp"
#include "fastconv/error.hpp"
#include "isa/cpu_isa.hpp"

namespace fastconv::detail {
namespace {

// implicit_gemm's backward_data writes C/groups channels in vectors of 16 (AVX-512).
constexpr std::int64_t kIgemmBackwardDataMinChannels = 16;

// few_channels' pixel vectors fill poorly on rows narrower than this; see the heuristic above.
constexpr std::int64_t kThinGroupMinRow = 16;

// Why `auto` passes over an engine that takes the problem (empty: it does not).
std::string auto_skip_reason(Engine candidate, const ConvProblem& problem) {
  const ConvGeometry& g = problem.geometry;
  if (candidate == Engine::few_channels && g.in_channels_per_group() > kFewChannelsMaxPerGroup &&
      g.out[2] < kThinGroupMinRow)
    return "thin groups on output rows of " + std::to_string(g.out[2]) + " < " +
           std::to_string(kThinGroupMinRow) + ": implicit_gemm is faster";
  if (candidate == Engine::few_channels && !problem.convolution() &&
      g.in_channels_per_group() > kFewChannelsMaxPerGroup)
    return "thin groups with an inner operation: implicit_gemm's channel tiles are faster";
  if (candidate == Engine::implicit_gemm && problem.direction == Direction::backward_data) {
    if (g.stride != SpatialArray{1, 1, 1})
      return "backward_data at stride > 1 (stride phases: strided stores and sub-kernels packed element by "
             "element): im2col is faster";
    if (g.in_channels_per_group() < kIgemmBackwardDataMinChannels)
      return "backward_data with C/groups = " + std::to_string(g.in_channels_per_group()) + " < " +
             std::to_string(kIgemmBackwardDataMinChannels) + " (output-channel vectors mostly empty): im2col is faster";
  }
  if (candidate == Engine::winograd) {
    const std::int64_t reduction = g.in_channels * g.kernel[0] * g.kernel[1];
    if (active_isa() == Isa::scalar) return "measured on AVX-512 and AVX2 only";
    if (g.dilation[2] > 1)
      return "dilation " + std::to_string(g.dilation[2]) + " along W (column phases with strided transforms): "
             "implicit_gemm is as fast";
    if (reduction < kWinogradAutoMinReduction || reduction > kWinogradAutoMaxReduction ||
        g.out_channels < kWinogradAutoMinOutChannels || g.out[2] < kWinogradAutoMinWidth)
      return "C*KD*KH = " + std::to_string(reduction) + ", K = " + std::to_string(g.out_channels) +
             ", output width " + std::to_string(g.out[2]) + " (auto takes C*KD*KH in [" +
             std::to_string(kWinogradAutoMinReduction) + ", " + std::to_string(kWinogradAutoMaxReduction) +
             "], K >= " + std::to_string(kWinogradAutoMinOutChannels) + ", width >= " +
             std::to_string(kWinogradAutoMinWidth) + "): implicit_gemm is faster";
  }
  return {};
}

}  // namespace

const ConvEngine& engine_instance(Engine id) {
  switch (id) {
    case Engine::reference: return reference_engine();
    case Engine::im2col: return im2col_engine();
    case Engine::pointwise: return pointwise_engine();
    case Engine::depthwise: return depthwise_engine();
    case Engine::implicit_gemm: return implicit_gemm_engine();
    case Engine::few_channels: return few_channels_engine();
    case Engine::winograd: return winograd_engine();
    case Engine::automatic: break;
  }
  throw Error(ErrorKind::invalid_argument,
              std::string("engine_instance: no engine behind '") + engine_name(id) + "'");
}

std::string decline_unless_convolution(const ConvProblem& problem) {
  if (problem.convolution()) return {};
  return "inner operation " + problem.op->description() + " (computes the plain convolution only)";
}

void unreachable_dtype(Engine engine) {
  throw Error(ErrorKind::unsupported_dtype,
              std::string("internal error: engine ") + engine_name(engine) +
                  " was run on float64 after declining it");
}

Preparation choose_and_prepare(const ConvProblem& problem, std::string* why) {
  // Preference order; the reference engine is the last resort.
  for (Engine candidate :
       {Engine::depthwise, Engine::few_channels, Engine::pointwise, Engine::winograd,
        Engine::implicit_gemm, Engine::im2col, Engine::reference}) {
    Preparation preparation = engine_instance(candidate).prepare(problem);
    std::string reason = preparation.decline_reason;
    if (reason.empty()) reason = auto_skip_reason(candidate, problem);
    if (reason.empty()) {
      if (why) *why += std::string(engine_name(candidate)) + ": chosen";
      return preparation;
    }
    if (why) *why += std::string(engine_name(candidate)) + ": declined (" + reason + "); ";
  }
  throw Error(ErrorKind::engine_declined, "internal error: every engine declined " +
                                              std::string(why ? *why : std::string()));
}

}  // namespace fastconv::detail
