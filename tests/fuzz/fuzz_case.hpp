// fuzz_case.hpp — one fuzzer input decoded into a problem for the public API.
//
// Byte layout (each line one or more bytes, in order; bytes past the end read as 0, so the empty
// input is a 1-D float32 forward convolution of one 1-wide image with a 1-wide kernel):
//   operation       forward, transposed, backward_data, backward_weights, unfold, fold, windows
//   rank + dtype    spatial dims 1..3; float64 one time in four
//   threads         set_num_threads at plan creation, and (when bit 4 is set) a different count
//                   at run time, 1..3 each
//   run options     caller workspace of exactly workspace_bytes(); pack_weights then run without
//                   the weight; bias; run the plan twice; a misaligned caller workspace; a 1x1
//                   kernel at stride 1 without padding (the pointwise engine's problems)
//   batch, groups, channels per group (in, out)
//   per spatial axis: input size, kernel size, stride + dilation, paddings + output_padding
//   chaos           rarely: one parameter or extent replaced by a wild value (0, -1, 2^62,
//                   INT64_MAX, INT64_MIN, ...): validity is then up to the library
//   values          contents: small integers (exact comparisons), reals, integers with NaN/Inf,
//                   huge magnitudes near the dtype's max, denormals, or a mix; then an 8-byte seed
//   layouts         one byte per operand: contiguous, channels-last, padded, permuted, reversed,
//                   broadcast (zero stride), small arbitrary strides (may overlap)
//   fault           rarely: one operand misaligned, given a stride whose byte range overflows,
//                   or (an output) placed over an input's memory
// Problems are kept cheap (a bounded number of multiply-adds and elements) so the fuzzer makes
// many executions per second; outputs whose shapes are too large to allocate are only planned.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "fuzz_bytes.hpp"

namespace fcfuzz {

enum class Operation { forward, transposed, backward_data, backward_weights, unfold, fold, windows };
// The ConvPlan kind of the four convolution operations (forward for the others).
fastconv::ConvKind conv_kind(Operation operation);
inline constexpr int kOperationCount = 7;
const char* operation_name(Operation operation);
inline bool is_conv(Operation operation) { return int(operation) <= int(Operation::backward_weights); }

enum class Layout { contiguous, channels_last, padded, permuted, reversed, broadcast, small_strides };
inline constexpr int kLayoutCount = 7;
const char* layout_name(Layout layout);

enum class ValueMode { small_integers, reals, integers_with_specials, huge, tiny, mixed };
inline constexpr int kValueModeCount = 6;
const char* value_mode_name(ValueMode mode);

// A defect put into one operand on purpose; each must be refused.
enum class Fault { none, misaligned, overflowing_stride, aliases_input };
const char* fault_name(Fault fault);

// One operand: its name as the library reports it, its shape, and how it is laid out.
struct OperandSpec {
  const char* name = "";
  int slot = -1;  // conv kinds: index in ConvArgs order (src, weight, bias, dst, diff_dst,
                  // diff_src, diff_weight, diff_bias); unfold/fold: 0 src, 1 dst; windows: 0 src
  bool written = false;
  std::vector<std::int64_t> shape;
  Layout layout = Layout::contiguous;
};

struct Case {
  Operation operation = Operation::forward;
  int dims = 1;
  fastconv::DType dtype = fastconv::DType::float32;
  int threads_at_plan = 1, threads_at_run = 1;
  bool caller_workspace = false, misaligned_workspace = false, pack_weights = false,
       run_twice = false;
  fastconv::ConvParams params{1};
  std::vector<std::int64_t> kernel_size;  // unfold, fold, windows
  std::vector<std::int64_t> window_stride, window_dilation;  // windows
  std::vector<OperandSpec> operands;
  std::int64_t reduction_length = 1;  // products summed into one output (conv kinds, fold)
  bool chaos = false;                 // a wild value was decoded: validity unknown
  bool shapes_refused = false;        // the shape functions refused: every engine must refuse
  bool too_big = false;               // shapes valid but too large to allocate: plan only
  std::string chaos_text;             // what the wild value was
  ValueMode values = ValueMode::small_integers;
  std::uint64_t seed = 0;             // values and layout details
  Fault fault = Fault::none;
  int fault_operand = 0;              // index into operands
  int fault_amount = 0;               // misalignment bytes / alias shift, from the input
};

Case decode_case(ByteReader& reader);
std::string describe(const Case& c);  // one paragraph, enough to rebuild the problem by hand

}  // namespace fcfuzz
