// tests/support/tensor.cpp — see tensor.hpp.
#include "support/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>
#include <stdexcept>

namespace fctest {

std::int64_t Rng::uniform_int(std::int64_t lo, std::int64_t hi) {
  if (hi <= lo) return lo;
  const auto span = static_cast<std::uint64_t>(hi - lo) + 1;
  return lo + static_cast<std::int64_t>(next() % span);
}

double Rng::uniform_real(double lo, double hi) {
  const double unit = static_cast<double>(next() >> 11) * 0x1.0p-53;
  return lo + (hi - lo) * unit;
}

std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b) {
  // splitmix64 of a combination: different (a, b) give unrelated streams.
  std::uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

const char* layout_name(Layout layout) {
  switch (layout) {
    case Layout::contiguous:
      return "contiguous";
    case Layout::channels_last:
      return "channels_last";
    case Layout::gapped:
      return "gapped";
    case Layout::permuted:
      return "permuted";
    case Layout::reversed:
      return "reversed";
    case Layout::broadcast:
      return "broadcast";
  }
  return "?";
}

std::string shape_string(std::span<const std::int64_t> shape) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? "," : "") << shape[i];
  out << ']';
  return out.str();
}

std::int64_t product(std::span<const std::int64_t> values) {
  std::int64_t result = 1;
  for (auto v : values) result *= v;
  return result;
}

void unravel(std::int64_t linear, std::span<const std::int64_t> shape,
             std::span<std::int64_t> index) {
  for (std::size_t i = shape.size(); i-- > 0;) {
    index[i] = shape[i] > 0 ? linear % shape[i] : 0;
    linear = shape[i] > 0 ? linear / shape[i] : 0;
  }
}

Tensor::Tensor(fastconv::DType dtype, std::vector<std::int64_t> shape, Layout layout, Rng* rng)
    : dtype_(dtype), layout_(layout), shape_(std::move(shape)) {
  const int r = rank();
  std::vector<int> order(r);  // memory order of the axes, outermost first
  std::iota(order.begin(), order.end(), 0);
  std::vector<std::int64_t> extent = shape_;
  std::vector<std::int64_t> start(r, 0);
  std::vector<bool> negate(r, false);
  int zero_axis = -1;
  if (layout != Layout::contiguous && layout != Layout::channels_last && rng == nullptr)
    throw std::logic_error("Tensor: this layout needs an Rng");

  auto add_gaps = [&] {
    bool any = false;
    for (int a = 0; a < r; ++a) {
      const std::int64_t extra = rng->uniform_int(0, 2);
      extent[a] += extra;
      start[a] = rng->uniform_int(0, extra);
      any = any || extra > 0;
    }
    if (!any && r > 0) {  // at least one gap
      extent[r - 1] += 1;
      start[r - 1] = rng->uniform_int(0, 1);
    }
  };

  switch (layout) {
    case Layout::contiguous:
      break;
    case Layout::channels_last:
      if (r >= 3) {
        for (int a = 1; a + 1 < r; ++a) order[a] = a + 1;
        order[r - 1] = 1;
      }
      break;
    case Layout::gapped:
      add_gaps();
      break;
    case Layout::permuted:
      for (int a = r - 1; a > 0; --a) std::swap(order[a], order[rng->uniform_int(0, a)]);
      add_gaps();
      break;
    case Layout::reversed: {
      if (rng->chance(0.5)) add_gaps();
      bool any = false;
      for (int a = 0; a < r; ++a) {
        negate[a] = shape_[a] > 1 && rng->chance(0.5);
        any = any || negate[a];
      }
      if (!any) {
        for (int a = r - 1; a >= 0; --a)
          if (shape_[a] > 1) {
            negate[a] = true;
            break;
          }
      }
      break;
    }
    case Layout::broadcast: {
      std::vector<int> candidates;
      for (int a = 0; a < r; ++a)
        if (shape_[a] > 1) candidates.push_back(a);
      if (!candidates.empty())
        zero_axis = candidates[rng->uniform_int(0, std::int64_t(candidates.size()) - 1)];
      break;
    }
  }

  strides_.assign(r, 0);
  std::int64_t running = 1;
  for (int j = r - 1; j >= 0; --j) {
    strides_[order[j]] = running;
    running *= extent[order[j]];
  }
  const std::int64_t storage = running;
  for (int a = 0; a < r; ++a) offset_ += start[a] * strides_[a];
  for (int a = 0; a < r; ++a)
    if (negate[a]) {
      offset_ += (shape_[a] - 1) * strides_[a];
      strides_[a] = -strides_[a];
    }
  if (zero_axis >= 0) strides_[zero_axis] = 0;

  if (dtype_ == fastconv::DType::float32)
    f32_.assign(std::size_t(storage), 0.0f);
  else
    f64_.assign(std::size_t(storage), 0.0);
}

std::int64_t Tensor::storage_size() const {
  return dtype_ == fastconv::DType::float32 ? std::int64_t(f32_.size()) : std::int64_t(f64_.size());
}

void* Tensor::storage_data() {
  if (storage_size() == 0) return nullptr;
  return dtype_ == fastconv::DType::float32 ? static_cast<void*>(f32_.data())
                                            : static_cast<void*>(f64_.data());
}

const void* Tensor::storage_data() const { return const_cast<Tensor*>(this)->storage_data(); }

fastconv::TensorView Tensor::view() const {
  fastconv::TensorView v;
  v.dtype = dtype_;
  v.rank = rank();
  for (int a = 0; a < rank(); ++a) {
    v.shape[a] = shape_[a];
    v.strides[a] = strides_[a];
  }
  if (storage_size() == 0) {
    v.data = nullptr;
  } else if (dtype_ == fastconv::DType::float32) {
    v.data = const_cast<float*>(f32_.data()) + offset_;
  } else {
    v.data = const_cast<double*>(f64_.data()) + offset_;
  }
  return v;
}

std::int64_t Tensor::offset_of(std::span<const std::int64_t> index) const {
  std::int64_t offset = offset_;
  for (int a = 0; a < rank(); ++a) offset += index[a] * strides_[a];
  return offset;
}

double Tensor::load(std::int64_t offset) const {
  return dtype_ == fastconv::DType::float32 ? double(f32_[std::size_t(offset)])
                                            : f64_[std::size_t(offset)];
}

void Tensor::store(std::int64_t offset, double value) {
  if (dtype_ == fastconv::DType::float32)
    f32_[std::size_t(offset)] = static_cast<float>(value);
  else
    f64_[std::size_t(offset)] = value;
}

double Tensor::get(std::span<const std::int64_t> index) const { return load(offset_of(index)); }
void Tensor::set(std::span<const std::int64_t> index, double value) {
  store(offset_of(index), value);
}
double Tensor::at(std::initializer_list<std::int64_t> index) const {
  return get({index.begin(), index.size()});
}

double Tensor::get_linear(std::int64_t linear) const {
  std::int64_t index[fastconv::kMaxRank];
  unravel(linear, shape_, {index, shape_.size()});
  return get({index, shape_.size()});
}

void Tensor::set_linear(std::int64_t linear, double value) {
  std::int64_t index[fastconv::kMaxRank];
  unravel(linear, shape_, {index, shape_.size()});
  set({index, shape_.size()}, value);
}

std::vector<double> Tensor::to_dense() const {
  std::vector<double> values(static_cast<std::size_t>(numel()));
  for (std::int64_t i = 0; i < numel(); ++i) values[std::size_t(i)] = get_linear(i);
  return values;
}

void Tensor::from_dense(std::span<const double> values) {
  for (std::int64_t i = 0; i < numel(); ++i) set_linear(i, values[std::size_t(i)]);
}

void Tensor::fill(double value) {
  for (std::int64_t i = 0; i < numel(); ++i) set_linear(i, value);
}

void Tensor::fill_storage(double value) {
  if (dtype_ == fastconv::DType::float32)
    std::fill(f32_.begin(), f32_.end(), static_cast<float>(value));
  else
    std::fill(f64_.begin(), f64_.end(), value);
}

void Tensor::fill_int(Rng& rng, int lo, int hi) {
  for (std::int64_t i = 0; i < numel(); ++i) set_linear(i, double(rng.uniform_int(lo, hi)));
}

void Tensor::fill_real(Rng& rng, double lo, double hi) {
  for (std::int64_t i = 0; i < numel(); ++i) set_linear(i, rng.uniform_real(lo, hi));
}

std::vector<unsigned char> Tensor::storage_bytes() const {
  const std::size_t bytes = std::size_t(storage_size()) *
                            (dtype_ == fastconv::DType::float32 ? sizeof(float) : sizeof(double));
  std::vector<unsigned char> snapshot(bytes);
  if (bytes) std::memcpy(snapshot.data(), storage_data(), bytes);
  return snapshot;
}

bool Tensor::storage_equals(const std::vector<unsigned char>& snapshot) const {
  const auto now = storage_bytes();
  return now == snapshot;
}

std::int64_t Tensor::touched_gap_count(double sentinel) const {
  std::vector<bool> covered(std::size_t(storage_size()), false);
  std::int64_t index[fastconv::kMaxRank];
  for (std::int64_t i = 0; i < numel(); ++i) {
    unravel(i, shape_, {index, shape_.size()});
    covered[std::size_t(offset_of({index, shape_.size()}))] = true;
  }
  std::int64_t touched = 0;
  const float sentinel32 = static_cast<float>(sentinel);
  for (std::int64_t s = 0; s < storage_size(); ++s) {
    if (covered[std::size_t(s)]) continue;
    const bool same = dtype_ == fastconv::DType::float32
                          ? std::memcmp(&f32_[std::size_t(s)], &sentinel32, sizeof(float)) == 0
                          : std::memcmp(&f64_[std::size_t(s)], &sentinel, sizeof(double)) == 0;
    touched += same ? 0 : 1;
  }
  return touched;
}

bool Tensor::all_storage_is(double sentinel) const {
  const float sentinel32 = static_cast<float>(sentinel);
  for (std::int64_t s = 0; s < storage_size(); ++s) {
    const bool same = dtype_ == fastconv::DType::float32
                          ? std::memcmp(&f32_[std::size_t(s)], &sentinel32, sizeof(float)) == 0
                          : std::memcmp(&f64_[std::size_t(s)], &sentinel, sizeof(double)) == 0;
    if (!same) return false;
  }
  return true;
}

Tensor Tensor::contiguous_copy(fastconv::DType dtype, bool absolute) const {
  Tensor copy(dtype, shape_);
  for (std::int64_t i = 0; i < numel(); ++i) {
    const double value = get_linear(i);
    copy.set_linear(i, absolute ? std::fabs(value) : value);
  }
  return copy;
}

fastconv::TensorView raw_view(void* data, fastconv::DType dtype,
                              std::span<const std::int64_t> shape) {
  fastconv::TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.rank = int(shape.size());
  std::int64_t running = 1;
  for (int a = v.rank - 1; a >= 0; --a) {
    v.shape[a] = shape[a];
    v.strides[a] = running;
    running *= shape[a];
  }
  return v;
}

}  // namespace fctest
