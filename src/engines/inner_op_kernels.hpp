// inner_op_kernels.hpp — what the fast engines need to run an InnerOp's compiled kernels: the
// entry of the active ISA, and the epilogue over a row of reduced values.
#pragma once

#include <cmath>
#include <cstdint>
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

// values[i] = epilogue(values[i], bias) for i < count (bias: the channel's, or 0). `scratch`
// holds `count` floats (the op's own epilogue takes a bias per element).
inline void apply_epilogue(const InnerOp& op, const OpParams& params, const custom::OpIsaKernels& kernels,
                           float* values, std::int64_t count, float bias, float* scratch) {
  const std::vector<double>& e = op.epilogue_params();
  switch (op.epilogue_kind()) {
    case EpilogueKind::bias:
      for (std::int64_t i = 0; i < count; ++i) values[i] += bias;
      return;
    case EpilogueKind::relu:
      for (std::int64_t i = 0; i < count; ++i) values[i] = values[i] + bias < 0.0f ? 0.0f : values[i] + bias;
      return;
    case EpilogueKind::gaussian: {
      const float gamma = float(e[0]);
      for (std::int64_t i = 0; i < count; ++i) values[i] = std::exp(-gamma * values[i]) + bias;
      return;
    }
    case EpilogueKind::polynomial: {
      const float c = float(e[0]), power = float(e[1]);
      for (std::int64_t i = 0; i < count; ++i) values[i] = std::pow(values[i] + c, power) + bias;
      return;
    }
    case EpilogueKind::op:
      for (std::int64_t i = 0; i < count; ++i) scratch[i] = bias;
      kernels.epilogue(values, scratch, count, params.floats.data());
      return;
  }
}

// Why an engine's fast path cannot run `op` in float32 on this CPU, or empty.
inline std::string op_kernels_missing(const InnerOp& op) {
  if (active_op_kernels(op.table()) == nullptr)
    return std::string("inner operation ") + op.table().name + " has no kernels for this CPU";
  return {};
}

}  // namespace fastconv::detail
