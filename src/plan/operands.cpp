// operands.cpp — see operands.hpp.
#include "plan/operands.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/checked_math.hpp"
#include "core/format.hpp"
#include "fastconv/error.hpp"

namespace fastconv::detail {
namespace {

[[noreturn]] void fail(const char* operation, const std::string& message,
                       ErrorKind kind = ErrorKind::invalid_argument) {
  throw Error(kind, std::string(operation) + ": " + message);
}

// [begin, end) byte addresses a view touches (begin == end when it has no elements).
struct ByteRange {
  std::uintptr_t begin, end;
};

ByteRange byte_range(const char* operation, const char* name, const TensorView& view) {
  const std::int64_t element = std::int64_t(dtype_size(view.dtype));
  std::int64_t low = 0, high = 0;
  const std::string what = std::string(operation) + ": " + name + " byte range";
  for (int i = 0; i < view.rank; ++i) {
    if (view.shape[i] == 0) return {0, 0};
    const std::int64_t span = checked_mul(view.shape[i] - 1, view.strides[i], what);
    (span < 0 ? low : high) = checked_add(span < 0 ? low : high, span, what);
  }
  const std::int64_t low_bytes = checked_mul(low, element, what);
  const std::int64_t high_bytes = checked_add(checked_mul(high, element, what), element, what);
  const auto base = reinterpret_cast<std::uintptr_t>(view.data);
  return {base + std::uintptr_t(low_bytes), base + std::uintptr_t(high_bytes)};
}

// A written view must not reach one element twice: with axes sorted by |stride|, each stride
// must step past everything the smaller axes cover.
void check_not_self_overlapping(const char* operation, const char* name, const TensorView& view) {
  std::vector<std::pair<std::int64_t, std::int64_t>> axes;  // (|stride|, extent)
  for (int i = 0; i < view.rank; ++i) {
    if (view.shape[i] == 0) return;
    if (view.shape[i] > 1) axes.push_back({std::llabs(view.strides[i]), view.shape[i]});
  }
  std::sort(axes.begin(), axes.end());
  std::int64_t covered = 0;  // largest offset the smaller axes reach
  for (const auto& [stride, extent] : axes) {
    if (stride <= covered) {
      fail(operation, std::string(name) + " (shape " + view.shape_string() + ", strides " +
                          list_string({view.strides.data(), std::size_t(view.rank)}) +
                          ") overlaps itself; an output must address each element once");
    }
    covered += stride * (extent - 1);
  }
}

}  // namespace

void check_dtype_supported(const char* operation, const char* argument, DType dtype) {
  if (dtype != DType::float32 && dtype != DType::float64) {
    fail(operation, std::string(argument) + " has unsupported dtype code " +
                        std::to_string(int(dtype)) + "; supported: float32, float64",
         ErrorKind::unsupported_dtype);
  }
}

void check_operands(const char* operation, DType dtype, std::span<const Operand> operands,
                    std::span<const std::vector<std::int64_t>> expected) {
  std::vector<std::pair<ByteRange, const Operand*>> ranges;
  const char* first_name = nullptr;
  for (std::size_t i = 0; i < operands.size(); ++i) {
    const Operand& operand = operands[i];
    const TensorView& view = *operand.view;
    if (view.rank == 0) continue;
    check_dtype_supported(operation, operand.name, view.dtype);
    if (first_name == nullptr) first_name = operand.name;
    if (view.dtype != dtype) {
      fail(operation, std::string(operand.name) + " is " + dtype_name(view.dtype) + " but " +
                          first_name + " is " + dtype_name(dtype) +
                          "; mixed dtypes are not supported",
           ErrorKind::unsupported_dtype);
    }
    if (!std::equal(view.dims().begin(), view.dims().end(), expected[i].begin(), expected[i].end())) {
      fail(operation, std::string(operand.name) + " has shape " + view.shape_string() +
                          "; expected " + list_string(expected[i]));
    }
    const std::int64_t count = view.numel();
    if (view.data == nullptr && count != 0) {
      fail(operation, std::string(operand.name) + " has null data but " + std::to_string(count) +
                          " elements");
    }
    if (operand.written) check_not_self_overlapping(operation, operand.name, view);
    ranges.push_back({byte_range(operation, operand.name, view), &operand});
  }
  for (const auto& [range, operand] : ranges) {
    if (!operand->written || range.begin == range.end) continue;
    for (const auto& [other_range, other] : ranges) {
      if (other == operand || other_range.begin == other_range.end) continue;
      if (range.begin < other_range.end && other_range.begin < range.end) {
        fail(operation, std::string("output ") + operand->name + " overlaps " +
                            (other->written ? "output " : "input ") + other->name +
                            " in memory; outputs must not alias other operands");
      }
    }
  }
}

}  // namespace fastconv::detail
