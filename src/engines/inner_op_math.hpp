// inner_op_math.hpp — an InnerOp's scalar steps, shared by the engines: the reduction's identity
// and step (double, the reference's), the epilogue and its derivatives by kind, and the epilogue
// over a block of float outputs (the fast engines apply it once per output, after the reduction).
//
// Semantics (fastconv/inner_op.hpp): max and min keep a NaN value once seen (so does the
// vectorised reduce_step of fastconv/custom/op_kernels.hpp); logsumexp is m + log(sum exp(z - m))
// with m the window's max made finite (an all -Inf window gives -Inf); relu keeps NaN.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "fastconv/inner_op.hpp"

namespace fastconv::detail {

inline double reduce_identity(Reduce reduce) {
  switch (reduce) {
    case Reduce::sum: return 0.0;
    case Reduce::min: return std::numeric_limits<double>::infinity();
    case Reduce::max:
    case Reduce::logsumexp: return -std::numeric_limits<double>::infinity();
  }
  return 0.0;
}

// One step of max / min / sum (logsumexp's first pass is max).
inline double reduce_step(Reduce reduce, double acc, double z) {
  switch (reduce) {
    case Reduce::sum: return acc + z;
    case Reduce::min: return (z < acc || std::isnan(z)) ? z : acc;
    case Reduce::max:
    case Reduce::logsumexp: return (z > acc || std::isnan(z)) ? z : acc;
  }
  return acc;
}

inline double finite_or_zero(double m) { return std::isfinite(m) ? m : 0.0; }

// The op's parameters as float and double arrays (at least one entry each, for the kernels).
struct OpParams {
  std::vector<double> values;
  std::vector<float> floats;
  explicit OpParams(const InnerOp& op) : values(op.op_params()), floats(values.begin(), values.end()) {
    if (values.empty()) values.push_back(0.0), floats.push_back(0.0f);
  }
};

// out = epilogue(y, b), and its derivatives in y and in b.
inline double epilogue_value(const InnerOp& op, const OpParams& params, double y, double b) {
  const std::vector<double>& e = op.epilogue_params();
  switch (op.epilogue_kind()) {
    case EpilogueKind::bias: return y + b;
    case EpilogueKind::relu: return y + b < 0 ? 0.0 : y + b;
    case EpilogueKind::gaussian: return std::exp(-e[0] * y) + b;
    case EpilogueKind::polynomial: return std::pow(y + e[0], e[1]) + b;
    case EpilogueKind::op: return op.table().epilogue(y, b, params.values.data());
  }
  return y + b;
}
inline double epilogue_dy(const InnerOp& op, const OpParams& params, double y, double b) {
  const std::vector<double>& e = op.epilogue_params();
  switch (op.epilogue_kind()) {
    case EpilogueKind::bias: return 1.0;
    case EpilogueKind::relu: return y + b > 0 ? 1.0 : 0.0;
    case EpilogueKind::gaussian: return -e[0] * std::exp(-e[0] * y);
    case EpilogueKind::polynomial: return e[1] * std::pow(y + e[0], e[1] - 1.0);
    case EpilogueKind::op: return op.table().epilogue_dy(y, b, params.values.data());
  }
  return 1.0;
}
inline double epilogue_db(const InnerOp& op, const OpParams& params, double y, double b) {
  switch (op.epilogue_kind()) {
    case EpilogueKind::bias:
    case EpilogueKind::gaussian:
    case EpilogueKind::polynomial: return 1.0;
    case EpilogueKind::relu: return y + b > 0 ? 1.0 : 0.0;
    case EpilogueKind::op: return op.table().epilogue_db(y, b, params.values.data());
  }
  return 1.0;
}

// Whether the gradients need the reduced y: epilogues other than y + b, and the reductions
// whose gradient depends on the values (max, min and logsumexp).
inline bool gradients_need_y(const InnerOp& op) {
  return op.epilogue_kind() != EpilogueKind::bias || op.reduce() != Reduce::sum;
}

}  // namespace fastconv::detail
