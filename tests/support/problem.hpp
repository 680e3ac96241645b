// tests/support/problem.hpp — convolution problems for every operation, a seeded random
// generator (and the pieces the engine tests' own generators share: per-axis draws, layout
// odds), a runner that calls the library, and a printable one-line description.
//
// A Problem is the operation, the sizes and parameters, and the list of operands (name as in
// ConvArgs, shape, memory layout, input or output). The same Problem is run on every engine;
// `describe()` prints everything needed to reproduce a failure, including the seed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "support/tensor.hpp"

namespace fctest {

enum class Op { forward, transposed, backward_data, backward_weights, unfold, fold };
inline constexpr Op kAllOps[] = {Op::forward,          Op::transposed, Op::backward_data,
                                 Op::backward_weights, Op::unfold,     Op::fold};
const char* op_name(Op op);

// How the library is called: the one-call function, or a ConvPlan created from shapes only
// (null data, contiguous strides) and run on the real views, with or without a caller workspace.
enum class ApiPath { one_call, plan, plan_with_workspace };
const char* api_name(ApiPath api);

struct Operand {
  std::string name;  // "src", "weight", "bias", "dst", "diff_dst", "diff_src", ...
  std::vector<std::int64_t> shape;
  Layout layout = Layout::contiguous;
  bool is_output = false;
};

struct Problem {
  Op op = Op::forward;
  std::uint64_t seed = 0;
  int spatial_dims = 2;
  std::int64_t batch = 1;
  std::int64_t in_channels = 1;   // C: channels of the convolution's input (src / diff_src)
  std::int64_t out_channels = 1;  // K: channels of the convolution's output (dst / diff_dst)
  std::int64_t groups = 1;
  bool has_bias = false;  // bias (forward, transposed) or diff_bias (backward_weights)
  // Spatial sizes. For every op but `transposed`: input_spatial is the convolution's input and
  // output_spatial its output. For `transposed`: input_spatial is src's, output_spatial dst's.
  std::vector<std::int64_t> input_spatial;
  std::vector<std::int64_t> kernel;
  std::vector<std::int64_t> output_spatial;
  fastconv::ConvParams params;
  std::vector<Operand> operands;
  ApiPath api = ApiPath::one_call;
  bool large = false;  // drawn by the large-problem generator

  int find(std::string_view name) const;  // operand index or -1
  // Upper bound on the number of products summed into one output element (0: a pure copy).
  std::int64_t reduction_length() const;
  std::int64_t mac_count() const;  // multiply-adds of the direct algorithm
  std::string describe() const;
};

// Fills output_spatial and operands (all contiguous) from the other fields.
void finalize(Problem& problem);

// Builds a problem from sizes; params must already hold stride/dilation/padding/groups.
Problem make_problem(Op op, std::int64_t batch, std::int64_t in_channels, std::int64_t out_channels,
                     std::vector<std::int64_t> input_spatial, std::vector<std::int64_t> kernel,
                     const fastconv::ConvParams& params, bool has_bias);

// Thresholds for drawing a random operand's layout from one uniform r in [0, 1). Rank > 1: an
// output is contiguous if r < output[0], else channels_last if r < output[1], else gapped if
// r < output[2], else permuted; an input likewise walks contiguous, channels_last, gapped,
// permuted, reversed with the bounds input[0..4], else broadcast. Rank 1 (bias-like vectors),
// the same for every generator: contiguous if r < 0.5, else gapped if r < 0.8 or an output,
// else reversed.
struct LayoutOdds {
  double output[3];
  double input[5];
};
// The odds random_problem draws with.
inline constexpr LayoutOdds kRandomProblemLayoutOdds = {.output = {0.35, 0.6, 0.8},
                                                        .input = {0.3, 0.5, 0.65, 0.8, 0.93}};

// Draws one operand's layout: exactly one rng.uniform_real, mapped through `odds`.
Layout pick_layout(Rng& rng, bool is_output, std::size_t rank, const LayoutOdds& odds);

// The last step of an engine test's own generator: sets problem.seed = seed, the API path
// seed % 3, and each operand's layout (pick_layout in operand order, from `rng`).
void finish_random_problem(Problem& problem, std::uint64_t seed, Rng& rng, const LayoutOdds& odds);

// Odds of one spatial axis in an engine test's own random generator (see draw_axes).
struct AxisOdds {
  double stride_one;    // chance of stride 1, else 2..4
  double dilation_one;  // chance of dilation 1, else 2..3
  double pad_end_same;  // chance of pad_end = pad_begin, else 0..3
};

// Draws the geometry of `params.spatial_dims` axes for `op`, axis by axis, each from `rng` in
// this order: kernel 1..(3 for 3-D, else 5), stride, dilation, pad_begin (0 with chance 0.35,
// else 0..3), pad_end, the input extent input_extent(axis is the last), and for `transposed` an
// output_padding (0..max(stride, dilation) - 1 with chance 0.5). Fills params' per-axis fields,
// `input` and `kernel`; returns whether every axis has at least one output element.
bool draw_axes(Rng& rng, Op op, const AxisOdds& odds,
               const std::function<std::int64_t(bool last)>& input_extent,
               fastconv::ConvParams& params, std::vector<std::int64_t>& input,
               std::vector<std::int64_t>& kernel);

// A reproducible random problem: 1-3 spatial dims, odd sizes, stride > kernel, dilation,
// groups and depthwise with multipliers, asymmetric padding, output_padding, batch 1 and > 1,
// bias or not, and random operand layouts (non-contiguous, channels-last, reversed, broadcast).
// Small problems (at most 12k multiply-adds) by default; `large` ones have up to 48 channels,
// 24x24 images and 400k multiply-adds, to reach the GEMM engine's blocking and tile remainders.
Problem random_problem(Op op, std::uint64_t seed, bool large = false);

// Allocates the operands (with their layouts when `use_layouts`, else contiguous).
std::vector<Tensor> allocate(const Problem& problem, fastconv::DType dtype, bool use_layouts);
// Inputs get values; outputs get kSentinel over their whole storage.
void fill_int_inputs(const Problem& problem, std::vector<Tensor>& tensors, Rng& rng, int lo,
                     int hi);
void fill_real_inputs(const Problem& problem, std::vector<Tensor>& tensors, Rng& rng);
void fill_outputs_with_sentinel(const Problem& problem, std::vector<Tensor>& tensors);
// Copies the inputs' values of `from` into `to` (any layouts / dtypes), optionally |x|.
void copy_inputs(const Problem& problem, const std::vector<Tensor>& from, std::vector<Tensor>& to,
                 bool absolute);

// Runs the problem through the public API.
void run(const Problem& problem, std::vector<Tensor>& tensors, fastconv::Engine engine,
         ApiPath api = ApiPath::one_call);
fastconv::ConvKind conv_kind(Op op);  // throws for unfold / fold
// The ConvArgs of the tensors (absent operands stay rank 0).
fastconv::ConvArgs conv_args(const Problem& problem, const std::vector<Tensor>& tensors);
// The problem's ConvArgs from shapes only, to create a plan: null data, contiguous strides,
// every operand of `dtype` (absent operands stay rank 0).
fastconv::ConvArgs shape_args(const Problem& problem,
                              fastconv::DType dtype = fastconv::DType::float32);

// Environment overrides for reproduction: FASTCONV_TEST_SEED runs one seed only,
// FASTCONV_TEST_PROBLEMS changes the number of random problems per test.
std::vector<std::uint64_t> test_seeds(int default_count);
std::string reproduce_hint(std::uint64_t seed);

}  // namespace fctest
