// tests/support/tensor.hpp — owning strided test tensors, a reproducible RNG and sentinels.
//
// A Tensor owns a storage buffer and describes a logical (N, C, ...) tensor inside it with
// arbitrary strides: contiguous, channels-last, cropped from a bigger buffer (gaps between
// rows), axis-permuted, reversed (negative strides) or broadcast (a zero stride). Values are
// read and written by logical index, so every test can stay layout-agnostic. The TensorView is
// built field by field (not with the library's factories, which are tested on their own).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"

namespace fctest {

// Reproducible everywhere: mt19937_64's output is fixed by the standard and the
// distributions below are our own (std::uniform_*_distribution is implementation-defined).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t next() { return engine_(); }
  std::int64_t uniform_int(std::int64_t lo, std::int64_t hi);  // inclusive bounds
  double uniform_real(double lo, double hi);
  bool chance(double probability) { return uniform_real(0.0, 1.0) < probability; }

 private:
  std::mt19937_64 engine_;
};

std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b);

enum class Layout {
  contiguous,     // row-major, no gaps
  channels_last,  // memory (N, spatial..., C); contiguous for rank < 3
  gapped,         // cropped out of a bigger buffer: gaps between rows, random start offset
  permuted,       // random memory order of the axes, plus gaps
  reversed,       // negative strides on some axes (inputs only)
  broadcast,      // one axis has stride 0 (inputs only: values repeat along it)
};
const char* layout_name(Layout layout);

inline constexpr double kSentinel = -777.125;  // exact in float32; no test result equals it

std::string shape_string(std::span<const std::int64_t> shape);
std::int64_t product(std::span<const std::int64_t> values);
// Row-major multi-index of a linear position.
void unravel(std::int64_t linear, std::span<const std::int64_t> shape,
             std::span<std::int64_t> index);

class Tensor {
 public:
  Tensor() = default;
  // `rng` is needed for gapped, permuted, reversed and broadcast layouts.
  Tensor(fastconv::DType dtype, std::vector<std::int64_t> shape, Layout layout = Layout::contiguous,
         Rng* rng = nullptr);

  fastconv::DType dtype() const { return dtype_; }
  const std::vector<std::int64_t>& shape() const { return shape_; }
  const std::vector<std::int64_t>& strides() const { return strides_; }
  Layout layout() const { return layout_; }
  int rank() const { return int(shape_.size()); }
  std::int64_t numel() const { return product(shape_); }
  std::int64_t storage_size() const;

  fastconv::TensorView view() const;  // data points at logical element 0 (null if no storage)
  void* storage_data();
  const void* storage_data() const;

  double get(std::span<const std::int64_t> index) const;
  void set(std::span<const std::int64_t> index, double value);
  double at(std::initializer_list<std::int64_t> index) const;
  double get_linear(std::int64_t linear) const;  // logical row-major position
  void set_linear(std::int64_t linear, double value);

  std::vector<double> to_dense() const;  // logical row-major values
  void from_dense(std::span<const double> values);
  void fill(double value);          // every logical element
  void fill_storage(double value);  // the whole buffer, gaps included
  void fill_int(Rng& rng, int lo, int hi);
  void fill_real(Rng& rng, double lo, double hi);

  std::vector<unsigned char> storage_bytes() const;  // snapshot of the raw buffer
  bool storage_equals(const std::vector<unsigned char>& snapshot) const;
  // Number of storage elements outside the view whose bits differ from `sentinel`.
  std::int64_t touched_gap_count(double sentinel) const;
  bool all_storage_is(double sentinel) const;

  // A contiguous copy with the same values (optionally converted, optionally |values|).
  Tensor contiguous_copy(fastconv::DType dtype, bool absolute = false) const;

 private:
  std::int64_t offset_of(std::span<const std::int64_t> index) const;
  double load(std::int64_t offset) const;
  void store(std::int64_t offset, double value);

  fastconv::DType dtype_ = fastconv::DType::float32;
  Layout layout_ = Layout::contiguous;
  std::vector<std::int64_t> shape_;
  std::vector<std::int64_t> strides_;
  std::int64_t offset_ = 0;
  std::vector<float> f32_;
  std::vector<double> f64_;
};

// A TensorView of a contiguous row-major shape, built without the library's factories.
fastconv::TensorView raw_view(void* data, fastconv::DType dtype,
                              std::span<const std::int64_t> shape);

}  // namespace fctest
