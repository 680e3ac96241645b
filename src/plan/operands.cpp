// operands.cpp — see operands.hpp.
#include "plan/operands.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <limits>
#include <string>

#include "core/checked_math.hpp"
#include "core/format.hpp"
#include "fastconv/error.hpp"
#include "plan/self_overlap.hpp"

namespace fastconv::detail {
namespace {

[[noreturn]] void fail(const char* operation, const std::string& message,
                       ErrorKind kind = ErrorKind::invalid_argument) {
  throw Error(kind, std::string(operation) + ": " + message);
}

std::string strides_string(const TensorView& view) {
  return list_string({view.strides.data(), std::size_t(view.rank)});
}

// "dst (shape [1, 1, 3, 3], strides [9, 9, 1, 2])"
std::string described(const char* name, const TensorView& view) {
  return std::string(name) + " (shape " + view.shape_string() + ", strides " +
         strides_string(view) + ")";
}

// [begin, end) byte addresses a view touches (begin == end when it has no elements).
struct ByteRange {
  std::uintptr_t begin, end;
  bool empty() const { return begin == end; }
  bool intersects(const ByteRange& other) const {
    return !empty() && !other.empty() && begin < other.end && other.begin < end;
  }
};

// Offsets in elements are summed with checked arithmetic (overflow: ErrorKind::overflow); the
// addresses must then stay within [0, 2^64): a view reaching past either end of the address
// space cannot be real memory and is refused before it is read.
ByteRange byte_range(const char* operation, const char* name, const TensorView& view) {
  for (int i = 0; i < view.rank; ++i)
    if (view.shape[i] == 0) return {0, 0};
  const std::int64_t element = std::int64_t(dtype_size(view.dtype));
  // (the message is only built when a product or sum overflows)
  const auto overflow = [&](std::int64_t a, const char* op, std::int64_t b) {
    throw_overflow(std::string(operation) + ": " + name + " byte range", a, op, b);
  };
  const auto mul = [&](std::int64_t a, std::int64_t b) {
    std::int64_t result;
    if (__builtin_mul_overflow(a, b, &result)) overflow(a, "*", b);
    return result;
  };
  const auto add = [&](std::int64_t a, std::int64_t b) {
    std::int64_t result;
    if (__builtin_add_overflow(a, b, &result)) overflow(a, "+", b);
    return result;
  };
  std::int64_t low = 0, high = 0;  // smallest and largest element offset
  for (int i = 0; i < view.rank; ++i) {
    const std::int64_t span = mul(view.shape[i] - 1, view.strides[i]);
    if (span < 0) low = add(low, span);
    else high = add(high, span);
  }
  const std::int64_t low_bytes = mul(low, element);  // <= 0
  const std::int64_t high_bytes = add(mul(high, element), element);
  const auto base = reinterpret_cast<std::uintptr_t>(view.data);
  const std::uintptr_t below = std::uintptr_t(0) - std::uintptr_t(low_bytes);  // |low_bytes|
  if (below > base || std::uintptr_t(high_bytes) > std::numeric_limits<std::uintptr_t>::max() - base) {
    fail(operation, described(name, view) + " with data at address " + address_string(view.data) +
                        " reaches from " + std::to_string(low_bytes) + " to " +
                        std::to_string(high_bytes) +
                        " bytes around it, outside the address space");
  }
  return {base - below, base + std::uintptr_t(high_bytes)};
}

void check_alignment(const char* operation, const char* name, const TensorView& view) {
  const std::size_t alignment = dtype_size(view.dtype);
  if (reinterpret_cast<std::uintptr_t>(view.data) % alignment != 0) {
    fail(operation, std::string(name) + " data at address " + address_string(view.data) +
                        " is not aligned to " + std::to_string(alignment) + " bytes, as " +
                        dtype_name(view.dtype) +
                        " elements must be; copy it into an aligned buffer");
  }
}

// A written view must not address one element twice (exact, with a work bound).
void check_not_self_overlapping(const char* operation, const char* name, const TensorView& view) {
  const SelfOverlapAnswer answer = find_self_overlap(view.dims(), {view.strides.data(), std::size_t(view.rank)});
  if (answer.verdict == SelfOverlap::overlaps) {
    fail(operation, described(name, view) + " overlaps itself: elements " +
                        list_string(answer.first_index) + " and " + list_string(answer.second_index) +
                        " share an address; an output must address each element once");
  }
  if (answer.verdict == SelfOverlap::undecided) {
    fail(operation, described(name, view) +
                        " may overlap itself: its strides are not sorted, and deciding whether "
                        "two elements share an address needs more than " +
                        std::to_string(kSelfOverlapMaxSteps) +
                        " search steps, so it is refused; an output must address each element "
                        "once (give it sorted, non-overlapping strides, e.g. a contiguous buffer)");
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
  constexpr std::size_t kMostOperands = 8;  // ConvArgs' members
  if (operands.size() > kMostOperands) fail(operation, "too many operands");
  std::array<std::pair<ByteRange, const Operand*>, kMostOperands> range_list{};
  std::size_t range_count = 0;
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
    const std::int64_t count = view.numel();  // fits: the shape is a validated one
    if (count == 0) continue;  // never dereferenced: any pointer, any strides
    if (view.data == nullptr) {
      fail(operation, std::string(operand.name) + " has null data but " + std::to_string(count) +
                          " elements");
    }
    check_alignment(operation, operand.name, view);
    range_list[range_count++] = {byte_range(operation, operand.name, view), &operand};
    if (operand.written) check_not_self_overlapping(operation, operand.name, view);
  }
  const std::span<const std::pair<ByteRange, const Operand*>> ranges(range_list.data(), range_count);
  for (const auto& [range, operand] : ranges) {
    if (!operand->written) continue;
    for (const auto& [other_range, other] : ranges) {
      if (other != operand && range.intersects(other_range)) {
        fail(operation, std::string("output ") + operand->name + " overlaps " +
                            (other->written ? "output " : "input ") + other->name +
                            " in memory (their byte ranges intersect); outputs must not alias "
                            "other operands");
      }
    }
  }
}

void check_workspace(const char* operation, const void* workspace, std::size_t bytes,
                     std::span<const Operand> operands) {
  if (workspace == nullptr) return;
  if (reinterpret_cast<std::uintptr_t>(workspace) % 64 != 0) {
    fail(operation, "workspace at address " + address_string(workspace) +
                        " is not aligned to 64 bytes; pass a 64-byte aligned buffer of at least "
                        "workspace_bytes() = " + std::to_string(bytes) + " bytes, or null");
  }
  const auto base = reinterpret_cast<std::uintptr_t>(workspace);
  if (bytes > std::numeric_limits<std::uintptr_t>::max() - base) {
    fail(operation, "workspace at address " + address_string(workspace) + " of " +
                        std::to_string(bytes) + " bytes passes the end of the address space");
  }
  const ByteRange scratch{base, base + bytes};
  for (const Operand& operand : operands) {
    const TensorView& view = *operand.view;
    if (view.rank == 0 || view.numel() == 0) continue;
    if (scratch.intersects(byte_range(operation, operand.name, view))) {
      fail(operation, "workspace at address " + address_string(workspace) + " of " +
                          std::to_string(bytes) + " bytes overlaps " +
                          (operand.written ? "output " : "input ") + operand.name +
                          " in memory; the workspace must not alias an operand");
    }
  }
}

}  // namespace fastconv::detail
