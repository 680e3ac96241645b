// tests/support/problem.hpp — convolution problems for every operation, a seeded random
// generator, a runner that calls the library, and a printable one-line description.
//
// A Problem is the operation, the sizes and parameters, and the list of operands (name as in
// ConvArgs, shape, memory layout, input or output). The same Problem is run on every engine;
// `describe()` prints everything needed to reproduce a failure, including the seed.
#pragma once

#include <cstdint>
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

// Environment overrides for reproduction: FASTCONV_TEST_SEED runs one seed only,
// FASTCONV_TEST_PROBLEMS changes the number of random problems per test.
std::vector<std::uint64_t> test_seeds(int default_count);
std::string reproduce_hint(std::uint64_t seed);

}  // namespace fctest
