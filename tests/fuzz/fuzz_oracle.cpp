// fuzz_oracle.cpp — see fuzz_oracle.hpp.
#include "fuzz_oracle.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

namespace fcfuzz {
namespace fc = fastconv;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

double largest_finite(fc::DType dtype) {
  return dtype == fc::DType::float32 ? double(std::numeric_limits<float>::max())
                                     : std::numeric_limits<double>::max();
}

double draw_special(SplitMix& rng, fc::DType dtype) {
  const double huge = largest_finite(dtype);
  const double denormal = dtype == fc::DType::float32 ? double(std::numeric_limits<float>::denorm_min())
                                                      : std::numeric_limits<double>::denorm_min();
  switch (rng.uniform(0, 8)) {
    case 0: return kNaN;
    case 1: return kInf;
    case 2: return -kInf;
    case 3: return (rng.chance(0.5) ? -1 : 1) * huge * (0.3 + 0.7 * rng.unit());
    case 4: return double(rng.uniform(-64, 64)) * denormal * double(std::int64_t(1) << rng.uniform(0, 20));
    case 5: return -0.0;
    case 6: return rng.unit() * 2 - 1;
    default: return double(rng.uniform(-3, 3));
  }
}

// `wild`: per operand, whether huge-mode filters may be huge too (else all small, so that the
// exact results are finite while the data are near the largest finite value).
double draw(ValueMode mode, Role role, fc::DType dtype, SplitMix& rng, std::int64_t parity, bool wild) {
  const double huge = largest_finite(dtype);
  const double denormal = dtype == fc::DType::float32 ? double(std::numeric_limits<float>::denorm_min())
                                                      : std::numeric_limits<double>::denorm_min();
  switch (mode) {
    case ValueMode::small_integers:
      return double(rng.uniform(-3, 3));
    case ValueMode::reals:
      return rng.unit() * 2 - 1;
    case ValueMode::integers_with_specials:
      if (rng.chance(0.04)) return kNaN;
      if (rng.chance(0.04)) return rng.chance(0.5) ? kInf : -kInf;
      return double(rng.uniform(-3, 3));
    case ValueMode::huge:
      // Issue 17 defect 4's shape: data near +-max with alternating signs along the last axis,
      // small filters (so the exact result is finite), sometimes huge filters too.
      if (role == Role::data) return (parity % 2 ? -1 : 1) * huge * (0.3 + 0.7 * rng.unit());
      if (role == Role::filter && wild && rng.chance(0.3)) return (rng.chance(0.5) ? -1 : 1) * huge * rng.unit();
      return double(rng.uniform(-4, 4)) * (role == Role::filter ? 1e-6 : 1.0);
    case ValueMode::tiny:
      if (role == Role::data || rng.chance(0.3))
        return double(rng.uniform(-64, 64)) * denormal * double(std::int64_t(1) << rng.uniform(0, 24));
      return double(rng.uniform(-4, 4));
    case ValueMode::mixed:
      return draw_special(rng, dtype);
  }
  return 0;
}

// Runs the operation with Engine::reference on float64 views of `contents` (contiguous).
void run_reference(const Case& c, std::vector<std::vector<double>>& contents) {
  std::vector<fc::TensorView> views;
  for (std::size_t i = 0; i < c.operands.size(); ++i)
    views.push_back(fc::TensorView::contiguous(contents[i].data(), fc::DType::float64, c.operands[i].shape));
  if (is_conv(c.operation)) {
    fc::ConvArgs args;
    fc::TensorView* slots[] = {&args.src,      &args.weight,   &args.bias,        &args.dst,
                               &args.diff_dst, &args.diff_src, &args.diff_weight, &args.diff_bias};
    for (std::size_t i = 0; i < c.operands.size(); ++i) *slots[c.operands[i].slot] = views[i];
    fc::ConvPlan(conv_kind(c.operation), args, c.params, fc::Engine::reference).run(args);
  } else if (c.operation == Operation::unfold) {
    fc::unfold(views[0], views[1], c.kernel_size, c.params, fc::Engine::reference);
  } else {
    fc::fold(views[0], views[1], c.kernel_size, c.params, fc::Engine::reference);
  }
}

bool is_small_integer(double value) {
  return !std::isfinite(value) || (std::abs(value) <= 16 && value == std::floor(value));
}

}  // namespace

Role role_of(Operation operation, const OperandSpec& spec) {
  const std::string name = spec.name;
  if (name == "bias") return Role::bias;
  if (name == "weight") return Role::filter;
  if (operation == Operation::backward_weights && name == "diff_dst") return Role::filter;
  return Role::data;
}

void fill_values(OperandBuffer& buffer, Role role, ValueMode mode, SplitMix& rng) {
  const auto& shape = buffer.spec().shape;
  const std::int64_t last = shape.empty() ? 1 : std::max<std::int64_t>(shape.back(), 1);
  const auto dtype = buffer.view().dtype;
  const bool wild = rng.chance(0.5);
  for (std::int64_t i = 0; i < buffer.numel(); ++i) buffer.set(i, draw(mode, role, dtype, rng, i % last, wild));
}

std::optional<Oracle> compute_oracle(const Case& c, const std::vector<OperandBuffer>& buffers) {
  Oracle oracle;
  oracle.exact = true;
  for (const auto& buffer : buffers) {
    if (buffer.spec().written) continue;
    const Role role = role_of(c.operation, buffer.spec());
    for (std::int64_t i = 0; i < buffer.numel(); ++i) {
      const double v = buffer.get(i);
      oracle.exact = oracle.exact && is_small_integer(v);
      if (!std::isfinite(v)) continue;
      double& largest = role == Role::filter ? oracle.filter_max : oracle.data_max;
      largest = std::max(largest, std::abs(v));
    }
  }
  for (int pass = 0; pass < 3; ++pass) {  // value, magnitude, box
    std::vector<std::vector<double>> contents;
    for (const auto& buffer : buffers) {
      std::vector<double> values(std::size_t(std::max<std::int64_t>(buffer.numel(), 0)));
      if (!buffer.spec().written) {
        const bool filter = role_of(c.operation, buffer.spec()) == Role::filter;
        for (std::size_t i = 0; i < values.size(); ++i) {
          const double v = buffer.get(std::int64_t(i));
          values[i] = pass == 0                 ? v
                      : !std::isfinite(v)       ? 0.0
                      : pass == 2 && filter     ? oracle.filter_max
                                                : std::abs(v);
        }
      }
      contents.push_back(std::move(values));
    }
    try {
      run_reference(c, contents);
    } catch (const fc::Error&) {
      return std::nullopt;
    }
    std::size_t output = 0;
    for (std::size_t i = 0; i < buffers.size(); ++i) {
      if (!buffers[i].spec().written) continue;
      if (oracle.outputs.size() <= output) oracle.outputs.emplace_back();
      Expected& e = oracle.outputs[output++];
      (pass == 0 ? e.value : pass == 1 ? e.magnitude : e.box) = std::move(contents[i]);
    }
  }
  return oracle;
}

std::optional<std::string> judge(const Case& c, const Oracle& oracle, std::size_t output,
                                 std::int64_t index, double v) {
  const Expected& e = oracle.outputs[output];
  const auto i = std::size_t(index);
  const double r = e.value[i], magnitude = e.magnitude[i], box = e.box[i];
  const bool f32 = c.dtype == fc::DType::float32;
  const double top = largest_finite(c.dtype);
  const double eps = f32 ? double(std::numeric_limits<float>::epsilon()) : std::numeric_limits<double>::epsilon();
  const double denormal = f32 ? double(std::numeric_limits<float>::denorm_min()) : std::numeric_limits<double>::denorm_min();
  const double length = double(c.reduction_length) + 8;
  const double tolerance = 4 * eps * length * box + 4 * length * denormal * (oracle.data_max + oracle.filter_max + 1);
  const bool exact = oracle.exact && 4 * box < (f32 ? 0x1p24 : 0x1p53);
  const bool may_overflow = !(magnitude < top / 4);
  std::ostringstream why;
  why.precision(17);
  why << "got " << v << ", reference " << r << " (magnitude " << magnitude << ", box " << box
      << ", tolerance " << tolerance << (exact ? ", exact" : "") << (may_overflow ? ", may overflow" : "") << "): ";
  if (may_overflow && !f32 && !std::isfinite(r)) return std::nullopt;  // the float64 reference overflowed
  if (std::isnan(r)) {
    if (std::isnan(v)) return std::nullopt;
    return why.str() + "expected NaN";
  }
  if (std::isinf(r)) {
    if (v == r || (may_overflow && std::isnan(v))) return std::nullopt;
    return why.str() + "expected the reference's infinity";
  }
  if (!std::isfinite(v)) {
    if (may_overflow) return std::nullopt;
    return why.str() + "expected a finite value (no summation order overflows)";
  }
  if (exact && !may_overflow) {
    if (v == r) return std::nullopt;
    return why.str() + "expected exactly the reference (small integer inputs)";
  }
  if (std::abs(v - r) <= tolerance) return std::nullopt;
  return why.str() + "outside the tolerance";
}

}  // namespace fcfuzz
