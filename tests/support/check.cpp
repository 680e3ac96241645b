// tests/support/check.cpp — see check.hpp.
#include "support/check.hpp"

#include <cmath>
#include <exception>
#include <sstream>

#include "support/naive.hpp"

namespace fctest {

namespace fc = fastconv;

const char* mode_name(ValueMode mode) {
  switch (mode) {
    case ValueMode::int_f32:
      return "int_f32";
    case ValueMode::real_f32:
      return "real_f32";
    case ValueMode::real_f64:
      return "real_f64";
  }
  return "?";
}

fc::DType mode_dtype(ValueMode mode) {
  return mode == ValueMode::real_f64 ? fc::DType::float64 : fc::DType::float32;
}

static double unit_roundoff(fc::DType dtype) {
  return dtype == fc::DType::float32 ? 0x1.0p-24 : 0x1.0p-53;
}

std::string compare_values(const std::string& what, const std::vector<std::int64_t>& shape,
                           const std::vector<double>& got, const std::vector<double>& expected,
                           const std::vector<double>* magnitude, std::int64_t reduction_length,
                           double roundoff) {
  std::ostringstream out;
  int reported = 0;
  std::int64_t bad = 0;
  std::vector<std::int64_t> index(shape.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double g = got[i], e = expected[i];
    bool ok;
    double tolerance = 0.0;
    if (std::isnan(e)) {
      ok = std::isnan(g);
    } else if (magnitude == nullptr || reduction_length == 0) {
      ok = g == e;
    } else {
      tolerance = 2.0 * double(reduction_length + 2) * roundoff * (*magnitude)[i];
      ok = std::fabs(g - e) <= tolerance;
    }
    if (ok) continue;
    ++bad;
    if (reported++ < 4) {
      unravel(std::int64_t(i), shape, index);
      out << "  " << what << shape_string(index) << ": got " << g << ", expected " << e
          << " (tolerance " << tolerance << ")\n";
    }
  }
  if (bad == 0) return "";
  std::ostringstream head;
  head.precision(10);
  head << "  " << what << " " << shape_string(shape) << ": " << bad << " of " << expected.size()
       << " elements differ\n"
       << out.str();
  return head.str();
}

static std::string header(const Problem& p, const char* engine, ValueMode mode) {
  return std::string("engine=") + engine + " mode=" + mode_name(mode) + " " + p.describe() + "\n";
}

std::string check_engine_against_reference(const Problem& p, fc::Engine engine, ValueMode mode,
                                           const CheckOptions& options) {
  const fc::DType dtype = mode_dtype(mode);
  Rng values(mix_seed(p.seed, 0x5EED00 + std::uint64_t(mode)));
  auto tensors = allocate(p, dtype, /*use_layouts=*/true);
  if (mode == ValueMode::int_f32)
    fill_int_inputs(p, tensors, values, -3, 3);
  else
    fill_real_inputs(p, tensors, values);
  fill_outputs_with_sentinel(p, tensors);
  std::vector<std::vector<unsigned char>> before;
  for (const auto& t : tensors) before.push_back(t.storage_bytes());

  std::string report;
  try {
    run(p, tensors, engine, p.api);
  } catch (const std::exception& e) {
    return header(p, fc::engine_name(engine), mode) + "  threw: " + e.what() + "\n  " +
           reproduce_hint(p.seed);
  }
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!p.operands[i].is_output && !tensors[i].storage_equals(before[i]))
      report += "  input " + p.operands[i].name + " was written\n";
    if (p.operands[i].is_output) {
      const auto touched = tensors[i].touched_gap_count(kSentinel);
      if (touched)
        report += "  output " + p.operands[i].name + ": " + std::to_string(touched) +
                  " storage elements outside the view were written\n";
    }
  }

  auto reference = allocate(p, dtype, false);
  copy_inputs(p, tensors, reference, false);
  fill_outputs_with_sentinel(p, reference);
  std::vector<Tensor> magnitude;
  try {
    run(p, reference, fc::Engine::reference);
    if (mode != ValueMode::int_f32) {
      magnitude = allocate(p, fc::DType::float64, false);
      copy_inputs(p, tensors, magnitude, true);
      if (options.magnitude_weight) options.magnitude_weight(magnitude[std::size_t(p.find("weight"))]);
      run(p, magnitude, fc::Engine::reference);
    }
  } catch (const std::exception& e) {
    return header(p, "reference", mode) + "  reference threw: " + e.what() + "\n  " +
           reproduce_hint(p.seed);
  }
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!p.operands[i].is_output) continue;
    std::vector<double> bound;
    if (!magnitude.empty()) bound = magnitude[i].to_dense();
    report += compare_values(p.operands[i].name, p.operands[i].shape, tensors[i].to_dense(),
                             reference[i].to_dense(), magnitude.empty() ? nullptr : &bound,
                             p.reduction_length(), unit_roundoff(dtype) * options.error_factor);
  }
  if (report.empty()) return "";
  return header(p, fc::engine_name(engine), mode) + report + "  " + reproduce_hint(p.seed);
}

std::string check_reference_against_naive(const Problem& p, ValueMode mode) {
  const fc::DType dtype = mode_dtype(mode);
  Rng values(mix_seed(p.seed, 0xA1FE00 + std::uint64_t(mode)));
  auto tensors = allocate(p, dtype, /*use_layouts=*/true);
  if (mode == ValueMode::int_f32)
    fill_int_inputs(p, tensors, values, -3, 3);
  else
    fill_real_inputs(p, tensors, values);
  fill_outputs_with_sentinel(p, tensors);
  try {
    run(p, tensors, fc::Engine::reference, p.api);
  } catch (const std::exception& e) {
    return header(p, "reference", mode) + "  threw: " + e.what() + "\n  " + reproduce_hint(p.seed);
  }
  std::vector<std::vector<double>> inputs, magnitudes;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (p.operands[i].is_output) continue;
    inputs.push_back(tensors[i].to_dense());
    magnitudes.push_back(inputs.back());
    for (auto& v : magnitudes.back()) v = std::fabs(v);
  }
  const auto expected = naive_run(p, inputs);
  const auto bound = naive_run(p, magnitudes);
  std::string report;
  std::size_t out_index = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!p.operands[i].is_output) continue;
    const auto touched = tensors[i].touched_gap_count(kSentinel);
    if (touched)
      report += "  output " + p.operands[i].name + ": " + std::to_string(touched) +
                " storage elements outside the view were written\n";
    report += compare_values(p.operands[i].name, p.operands[i].shape, tensors[i].to_dense(),
                             expected[out_index],
                             mode == ValueMode::int_f32 ? nullptr : &bound[out_index],
                             p.reduction_length(), unit_roundoff(dtype));
    ++out_index;
  }
  if (report.empty()) return "";
  return header(p, "reference", mode) + report + "  " + reproduce_hint(p.seed);
}

}  // namespace fctest
