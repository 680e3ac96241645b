// fastconv/inner_op.hpp — custom convolutions: the inner operation a convolution is made of.
//
// For every output position o of channel k (group g, Cg = C / groups input channels per group):
//
//   y[n, k, o]   = REDUCE over c < Cg, t in the kernel of  combine(x_pad[n, g Cg + c, o * stride + t * dilation], w[k, c, t])
//   out[n, k, o] = epilogue(y[n, k, o], b[k])
//
// with every parameter of the convolution (1-D/2-D/3-D, stride, dilation, per-side padding,
// groups, bias, any strides). x_pad reads as `pad_value` outside the input. REDUCE is sum, max,
// min or logsumexp (log of the sum of exp). combine = x * w with sum and the epilogue y + b is
// the convolution itself, and runs on the regular engines.
//
// The catalog (precompiled; InnerOp::catalog(name)):
//   mul_sum        x * w, sum                  the convolution
//   abs_diff_sum   -|x - w|, sum               AdderNet
//   abs_diff_sum_adder                         the same, with AdderNet's surrogate derivatives:
//                                              d/dx = clamp(w - x, -1, 1), d/dw = x - w
//   sq_diff_sum    (x - w)^2, sum              squared Euclidean distance
//   add_max        x + w, max                  max-plus dilation (use pad_value -Inf)
//   sub_min        x - w, min                  min-plus erosion (use pad_value +Inf)
//   mul_max        x * w, max
//   mul_logsumexp  x * w, logsumexp            a smooth max
// Epilogues (InnerOp::epilogue(name, params)):
//   bias                 y + b                 (the default)
//   relu                 max(y + b, 0)
//   gaussian {gamma}     exp(-gamma y) + b     Kervolution's Gaussian kernel (with sq_diff_sum)
//   polynomial {c, p}    (y + c)^p + b         Kervolution's polynomial kernel (with mul_sum)
//   op                   an operation's own epilogue (the default for operations that have one)
// Your own operations: fastconv/custom.hpp.
//
// Gradients (sum): dL/dx and dL/dw through combine's derivatives (dx, dw) and the epilogue's;
// max and min route dL/dy to the first (c, t) in order that attains the extreme value; logsumexp
// weights each term by exp(z - y). NaN: a NaN combined value makes its output NaN.
#pragma once

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fastconv/custom/op_table.hpp"

namespace fastconv {

const char* reduce_name(Reduce reduce);  // "sum", "max", "min", "logsumexp"

enum class EpilogueKind { bias, relu, gaussian, polynomial, op };

class InnerOp {
 public:
  InnerOp();                                        // mul_sum, bias epilogue, pad 0: the convolution
  explicit InnerOp(const custom::OpTable& table);   // a compiled operation (FASTCONV_CUSTOM_OP)

  // A catalog operation by name; throws fastconv::Error naming the catalog for an unknown one.
  static InnerOp catalog(std::string_view name);
  static std::vector<std::string> catalog_names();

  InnerOp& pad_value(double value);  // what positions outside the input read as (default 0)
  // The operation's own parameters (p[0..], as many as it declares); throws otherwise.
  InnerOp& params(std::span<const double> values);
  InnerOp& params(std::initializer_list<double> values) { return params({values.begin(), values.size()}); }
  // A catalog epilogue by name with its parameters (see above); throws for unknown names or a
  // wrong parameter count, and for "op" when the operation has no epilogue of its own.
  InnerOp& epilogue(std::string_view name, std::initializer_list<double> params = {});
  // Gradients through `donor`'s combine derivatives (surrogates); same reduce required, and not
  // logsumexp (its gradient weighs each term by the op's own combine).
  InnerOp& derivatives_from(const InnerOp& donor);

  const custom::OpTable& table() const { return *table_; }
  const custom::OpTable& derivative_table() const { return *derivatives_; }
  Reduce reduce() const { return table_->reduce; }
  double pad_value() const { return pad_value_; }
  EpilogueKind epilogue_kind() const { return epilogue_; }
  const std::vector<double>& op_params() const { return params_; }
  const std::vector<double>& epilogue_params() const { return epilogue_params_; }
  // mul_sum with the bias epilogue and pad value 0: what the regular engines compute.
  bool is_convolution() const;
  bool has_gradients() const;  // combine and epilogue derivatives available
  // "abs_diff_sum epilogue=relu pad=-inf", for plan descriptions and errors.
  std::string description() const;

 private:
  const custom::OpTable* table_;
  const custom::OpTable* derivatives_;
  double pad_value_ = 0.0;
  EpilogueKind epilogue_ = EpilogueKind::bias;
  std::vector<double> params_;
  std::vector<double> epilogue_params_;
};

}  // namespace fastconv

// Declares the accessor of an operation defined with FASTCONV_CUSTOM_OP (fastconv/custom.hpp) in
// another source file: FASTCONV_DECLARE_CUSTOM_OP(my_op); then fastconv::InnerOp op = my_op();
#define FASTCONV_DECLARE_CUSTOM_OP(symbol) ::fastconv::InnerOp symbol()
