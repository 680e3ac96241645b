// test_vector_math.cpp — fastconv::vmath (fastconv/custom/vector_math.hpp), the element-wise
// math of custom inner operations, at every ISA unit this CPU (and FASTCONV_MAX_ISA) allows,
// against the C library in double: error in float ulps on log-uniform samples over each
// function's domain and on the special values (+-0, denormals, +-Inf, NaN, range edges).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "isa/cpu_isa.hpp"
#include "kernels/vector_math_units.hpp"

namespace fastconv::test {
namespace {

struct Case {
  const char* name;
  VmathFunction function;
  double (*exact)(double, double);
  double max_ulps;
  double lo, hi;  // sampled domain (a); b is sampled in [-30, 30] for log_add_exp
};

const Case kCases[] = {
    {"exp", VmathFunction::exp, [](double a, double) { return std::exp(a); }, 2, -110, 95},
    {"exp_nonpositive", VmathFunction::exp_nonpositive, [](double a, double) { return std::exp(a); }, 2, -87, 0},
    {"log", VmathFunction::log, [](double a, double) { return std::log(a); }, 2, 0, 3e38},
    {"log1p", VmathFunction::log1p, [](double a, double) { return std::log1p(a); }, 3, -1, 1e30},
    {"sqrt", VmathFunction::sqrt, [](double a, double) { return std::sqrt(a); }, 0.5, 0, 3e38},
    {"tanh", VmathFunction::tanh, [](double a, double) { return std::tanh(a); }, 2, -20, 20},
    {"sigmoid", VmathFunction::sigmoid, [](double a, double) { return 1 / (1 + std::exp(-a)); }, 3, -80, 100},
    {"log_add_exp", VmathFunction::log_add_exp,
     [](double a, double b) { return std::max(a, b) + std::log1p(std::exp(-std::abs(a - b))); }, 3, -30, 30},
};

struct Unit {
  int isa;
  VmathApply apply;
};

std::vector<Unit> units() {
  std::vector<Unit> all = {{0, &vmath_apply_fastconv_isa0}, {1, &vmath_apply_fastconv_isa1},
                           {2, &vmath_apply_fastconv_isa2}};
  std::vector<Unit> usable;
  for (const Unit& unit : all)
    if (unit.isa <= int(detail::active_isa())) usable.push_back(unit);
  return usable;
}

// Samples over [lo, hi]: uniform near zero, log-uniform magnitudes elsewhere, plus the specials.
std::vector<float> samples(const Case& c, std::mt19937& rng) {
  std::vector<float> v;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int i = 0; i < 20000; ++i) {
    const double t = unit(rng);
    double x = c.lo + (c.hi - c.lo) * t;
    if (i % 2 == 1) {  // log-uniform magnitude in [1e-38, max(|lo|, |hi|)], sign within the domain
      const double top = std::log(std::max(std::abs(c.lo), std::abs(c.hi)));
      const double magnitude = std::exp(-87.0 + (top + 87.0) * t);
      x = (i % 4 == 1 && c.lo < 0) ? -magnitude : magnitude;
      if (x < c.lo || x > c.hi) continue;
    }
    v.push_back(float(x));
  }
  const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 0.625f, -0.625f, 0.6249999f, 1e-45f, 1e-40f,
                            1.17549435e-38f, 0.70710677f, 0.70710683f, 1.41421354f, 2.0f, 88.7f, 89.0f,
                            -87.0f, -103.9f, -104.0f, 3.4e38f};
  for (const float s : specials)
    if (s >= c.lo && s <= c.hi) v.push_back(s);
  while (v.size() % 16) v.push_back(1.0f);
  return v;
}

// |got - exact| in units of the float ulp at `scale` (default the exact value; denormal results:
// the smallest ulp).
double ulps(float got, double exact, double scale = 0) {
  if (std::isnan(exact)) return std::isnan(got) ? 0 : 1e9;
  if (std::isinf(exact) || std::abs(exact) > std::numeric_limits<float>::max())
    return float(exact) == got ? 0 : 1e9;
  if (!std::isfinite(got)) return 1e9;
  const double magnitude = std::max({std::abs(exact), scale, double(std::numeric_limits<float>::min())});
  const double ulp = std::ldexp(1.0, std::ilogb(magnitude) - 23);
  return std::abs(double(got) - exact) / ulp;
}

TEST(VectorMath, AgainstLibmInUlps) {
  std::mt19937 rng(7);
  for (const Case& c : kCases) {
    std::vector<float> a = samples(c, rng), b(a.size()), out(a.size());
    std::uniform_real_distribution<float> second(-30.0f, 30.0f);
    for (float& value : b) value = second(rng);
    for (const Unit& unit : units()) {
      unit.apply(c.function, a.data(), b.data(), out.data(), std::int64_t(a.size()));
      double worst = 0;
      std::size_t worst_at = 0;
      for (std::size_t i = 0; i < a.size(); ++i) {
        // (log_add_exp: a + log1p(...) cancels near 0; its inputs set the scale of its rounding.)
        const double scale = c.function == VmathFunction::log_add_exp ? std::max(std::abs(a[i]), std::abs(b[i])) : 0;
        const double e = ulps(out[i], c.exact(a[i], b[i]), scale);
        if (e > worst) worst = e, worst_at = i;
      }
      std::cout << c.name << " unit " << unit.isa << ": worst " << worst << " ulp\n";
      EXPECT_LE(worst, c.max_ulps) << c.name << " at ISA unit " << unit.isa << ": f(" << a[worst_at] << ", "
                                   << b[worst_at] << ") = " << out[worst_at] << ", exact "
                                   << c.exact(a[worst_at], b[worst_at]);
    }
  }
}

TEST(VectorMath, NonFiniteAndOutOfDomain) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  struct Special {
    VmathFunction function;
    float a, b;
    float expected;  // NaN: expect NaN
  };
  const Special specials[] = {
      {VmathFunction::exp, inf, 0, inf},          {VmathFunction::exp, -inf, 0, 0.0f},
      {VmathFunction::exp, nan, 0, nan},          {VmathFunction::log, 0.0f, 0, -inf},
      {VmathFunction::log, -0.0f, 0, -inf},       {VmathFunction::log, -1.0f, 0, nan},
      {VmathFunction::log, inf, 0, inf},          {VmathFunction::log, -inf, 0, nan},
      {VmathFunction::log, nan, 0, nan},          {VmathFunction::log1p, -1.0f, 0, -inf},
      {VmathFunction::log1p, inf, 0, inf},        {VmathFunction::log1p, -2.0f, 0, nan},
      {VmathFunction::log1p, nan, 0, nan},        {VmathFunction::sqrt, -1.0f, 0, nan},
      {VmathFunction::sqrt, inf, 0, inf},         {VmathFunction::sqrt, -0.0f, 0, -0.0f},
      {VmathFunction::tanh, inf, 0, 1.0f},        {VmathFunction::tanh, -inf, 0, -1.0f},
      {VmathFunction::tanh, nan, 0, nan},         {VmathFunction::tanh, -0.0f, 0, -0.0f},
      {VmathFunction::sigmoid, -inf, 0, 0.0f},    {VmathFunction::sigmoid, inf, 0, 1.0f},
      {VmathFunction::log_add_exp, -inf, -inf, -inf}, {VmathFunction::log_add_exp, inf, 1.0f, inf},
      {VmathFunction::log_add_exp, -inf, 2.0f, 2.0f},
  };
  for (const Unit& unit : units())
    for (const Special& s : specials) {
      std::vector<float> a(16, s.a), b(16, s.b), out(16);
      unit.apply(s.function, a.data(), b.data(), out.data(), 16);
      for (const float got : out) {
        if (std::isnan(s.expected)) {
          EXPECT_TRUE(std::isnan(got)) << "function " << int(s.function) << " of " << s.a << " at ISA unit " << unit.isa;
        } else {
          EXPECT_EQ(got, s.expected) << "function " << int(s.function) << " of " << s.a << ", " << s.b
                                     << " at ISA unit " << unit.isa;
          if (s.expected == 0.0f) {
            EXPECT_EQ(std::signbit(got), std::signbit(s.expected)) << int(s.function);
          }
        }
      }
    }
}

}  // namespace
}  // namespace fastconv::test
