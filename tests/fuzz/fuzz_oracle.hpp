// fuzz_oracle.hpp — tensor contents, and what an engine's output must be.
//
// The oracle is Engine::reference run in float64 on contiguous copies of the inputs (exact
// products of the float32 values, double accumulation), three times per problem:
//   value      on the inputs themselves;
//   magnitude  on |inputs| with non-finite values as 0: A, the sum of |product| of the finite
//              terms, which bounds every partial sum of any summation order;
//   box        on |data| with the filter operand replaced by its largest |finite value|: B >= A,
//              which also bounds the cross terms of transform algorithms (Winograd's
//              (d0 - d2) * g0 mixes taps of one row).
// An output v of the problem's dtype (unit roundoff eps, largest finite T) against r, A, B and the
// reduction length L (products per output):
//   - A < T / 4 (no summation order can overflow):
//       r NaN -> v NaN;  r +-Inf -> v == r;  r finite -> v finite and
//       |v - r| <= 4 eps (L + 8) B + 4 (L + 8) m (|data|max + |filter|max + 1),
//       m the smallest denormal (rounding of denormal intermediates), or v == r exactly when every
//       finite input is a small integer and 4 B < 2^24 (float32) / 2^53 (float64);
//   - otherwise (some order may overflow): r NaN -> v NaN (for float32, whose products never
//     overflow in double: NaN then comes from the inputs); r +-Inf -> v == r or NaN; r finite ->
//     v non-finite, or within the tolerance above. For float64 problems with values near DBL_MAX
//     the reference itself may overflow: then only finite v against finite r is compared.
// NaN and Inf patterns follow plan.hpp's documented IEEE semantics (zero padding takes part in
// the products, so a non-finite weight reaching a padded tap gives NaN).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_case.hpp"
#include "fuzz_operand.hpp"

namespace fcfuzz {

// What an operand holds, for drawing its values.
enum class Role { data, filter, bias };
Role role_of(Operation operation, const OperandSpec& spec);
void fill_values(OperandBuffer& buffer, Role role, ValueMode mode, SplitMix& rng);

// Expected contents of one written operand, in logical row-major order.
struct Expected {
  std::vector<double> value, magnitude, box;
};

struct Oracle {
  std::vector<Expected> outputs;  // one per written operand, in the case's operand order
  bool exact = false;             // every finite input is a small integer
  double data_max = 0, filter_max = 0;  // largest |finite value| of the data and filter roles
};

// Runs the reference three times in float64; empty when it refuses the problem.
std::optional<Oracle> compute_oracle(const Case& c, const std::vector<OperandBuffer>& buffers);

// Empty when `v` is acceptable for element `index` of output `output`, else why not.
std::optional<std::string> judge(const Case& c, const Oracle& oracle, std::size_t output,
                                 std::int64_t index, double v);

}  // namespace fcfuzz
