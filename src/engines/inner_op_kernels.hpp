// inner_op_kernels.hpp — what the fast engines need to run an InnerOp's compiled kernels: the
// entry of the active ISA, and the epilogue over a row of reduced values.
#pragma once

#include <cmath>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "engines/inner_op_math.hpp"
#include "fastconv/custom/op_table.hpp"
#include "isa/cpu_isa.hpp"

namespace fastconv::detail {

// The op's kernels for the best ISA it was built for that the CPU (and FASTCONV_MAX_ISA) allows;
// null when it has none usable.
inline const custom::OpIsaKernels* active_op_kernels(const custom::OpTable& table) {
  for (int isa = int(active_isa()); isa >= 0; --isa)
    if (table.isas[isa] != nullptr) return table.isas[isa];
  return nullptr;
}

// values[i] = epilogue(values[i], bias[i]) for i < count (bias null: 0). `scratch` holds
// `count` floats (the op's own epilogue reads a bias array).
inline void apply_epilogue(const InnerOp& op, const OpParams& params, const custom::OpIsaKernels& kernels,
                           float* values, std::int64_t count, const float* bias, float* scratch) {
  const std::vector<double>& e = op.epilogue_params();
  auto b = [&](std::int64_t i) { return bias ? bias[i] : 0.0f; };
  switch (op.epilogue_kind()) {
    case EpilogueKind::bias:
      if (bias)
        for (std::int64_t i = 0; i < count; ++i) values[i] += bias[i];
      return;
    case EpilogueKind::relu:
      for (std::int64_t i = 0; i < count; ++i) values[i] = values[i] + b(i) < 0.0f ? 0.0f : values[i] + b(i);
      return;
    case EpilogueKind::gaussian: {
      const float gamma = float(e[0]);
      for (std::int64_t i = 0; i < count; ++i) values[i] = std::exp(-gamma * values[i]) + b(i);
      return;
    }
    case EpilogueKind::polynomial: {
      const float c = float(e[0]), power = float(e[1]);
      for (std::int64_t i = 0; i < count; ++i) values[i] = std::pow(values[i] + c, power) + b(i);
      return;
    }
    case EpilogueKind::op:
      for (std::int64_t i = 0; i < count; ++i) scratch[i] = b(i);
      kernels.epilogue(values, scratch, count, params.floats.data());
      return;
  }
}

// The same with one bias for every value (a channel's row).
inline void apply_epilogue(const InnerOp& op, const OpParams& params, const custom::OpIsaKernels& kernels,
                           float* values, std::int64_t count, float bias, float* scratch) {
  for (std::int64_t i = 0; i < count; ++i) scratch[i] = bias;
  apply_epilogue(op, params, kernels, values, count, scratch, scratch);
}

// Two partial reductions of one output (input-channel chunks) merged.
inline float merge_partials(Reduce reduce, float a, float b) {
  switch (reduce) {
    case Reduce::sum: return a + b;
    case Reduce::max: return std::isnan(a) ? a : (b > a || std::isnan(b)) ? b : a;
    case Reduce::min: return std::isnan(a) ? a : (b < a || std::isnan(b)) ? b : a;
    case Reduce::logsumexp: {
      if (std::isnan(a) || std::isnan(b)) return a + b;
      const float high = std::max(a, b), low = std::min(a, b);
      if (low == -std::numeric_limits<float>::infinity()) return high;
      return high + std::log1p(std::exp(low - high));
    }
  }
  return a;
}

// Why an engine's fast path cannot run `op` in float32 on this CPU, or empty.
inline std::string op_kernels_missing(const InnerOp& op) {
  if (active_op_kernels(op.table()) == nullptr)
    return std::string("inner operation ") + op.table().name + " has no kernels for this CPU";
  return {};
}

}  // namespace fastconv::detail
