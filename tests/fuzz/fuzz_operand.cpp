// fuzz_operand.cpp — see fuzz_operand.hpp.
#include "fuzz_operand.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

namespace fcfuzz {
namespace fc = fastconv;

namespace {

constexpr std::uint32_t kSentinel32 = 0x7FA5A5A5u;              // float32 signalling NaN
constexpr std::uint64_t kSentinel64 = 0x7FF5A5A5A5A5A5A5ull;    // float64 signalling NaN

unsigned char sentinel_byte(std::size_t element_size, std::size_t position_in_element) {
  return element_size == 4 ? (kSentinel32 >> (8 * position_in_element)) & 0xFF
                           : (kSentinel64 >> (8 * position_in_element)) & 0xFF;
}

}  // namespace

OperandBuffer::OperandBuffer(const OperandSpec& spec, fc::DType dtype, SplitMix& rng)
    : spec_(spec), dtype_(dtype), element_size_(fc::dtype_size(dtype)) {
  const std::size_t rank = spec.shape.size();
  const bool empty = std::find(spec.shape.begin(), spec.shape.end(), 0) != spec.shape.end();
  numel_ = empty ? 0 : 1;
  for (auto extent : spec.shape) numel_ *= empty ? 1 : extent;  // the case bounded the product
  if (numel_ == 0) {  // never dereferenced: unit strides (extents may be wild), one element of room
    strides_.assign(rank, 1);
    view_strides_ = strides_;
    allocate(0);
    return;
  }
  std::vector<std::size_t> order(rank);  // memory order of the axes, outermost first
  std::iota(order.begin(), order.end(), 0);
  std::vector<std::int64_t> extent = spec.shape;
  auto pad = [&] {
    for (auto& e : extent) e += rng.uniform(0, 2);
  };
  strides_.assign(rank, 0);
  switch (spec.layout) {
    case Layout::contiguous:
    case Layout::broadcast:
      break;
    case Layout::channels_last:  // (N, spatial..., C)
      if (rank >= 3) {
        for (std::size_t a = 1; a + 1 < rank; ++a) order[a] = a + 1;
        order[rank - 1] = 1;
      }
      break;
    case Layout::padded:
    case Layout::reversed:
      pad();
      break;
    case Layout::permuted:
      for (std::size_t a = rank; a-- > 1;) std::swap(order[a], order[std::size_t(rng.uniform(0, std::int64_t(a)))]);
      pad();
      break;
    case Layout::small_strides:
      break;
  }
  std::int64_t step = 1;
  for (std::size_t k = rank; k-- > 0;) {
    strides_[order[k]] = step;
    step *= std::max<std::int64_t>(extent[order[k]], 1);
  }
  if (spec.layout == Layout::reversed) {
    for (std::size_t a = 0; a < rank; ++a)
      if (rng.chance(0.5)) strides_[a] = -strides_[a];
  } else if (spec.layout == Layout::broadcast && rank > 0) {
    strides_[std::size_t(rng.uniform(0, std::int64_t(rank) - 1))] = 0;
  } else if (spec.layout == Layout::small_strides) {
    for (auto& stride : strides_) stride = rng.uniform(-6, 6);
  }
  view_strides_ = strides_;
  if (numel_ > 0) {
    for (std::size_t a = 0; a < rank; ++a) {
      const std::int64_t reach = (spec.shape[a] - 1) * strides_[a];
      (reach < 0 ? low_ : high_) += reach;
    }
  }
  allocate(0);
}

void OperandBuffer::allocate(int misalign_bytes) {
  const std::int64_t span = numel_ > 0 ? high_ - low_ + 1 : 1;
  storage_.assign(std::size_t(span) * element_size_ + std::size_t(misalign_bytes), 0);
  origin_ = std::size_t(-low_) * element_size_ + std::size_t(misalign_bytes);
}

fc::TensorView OperandBuffer::view() const {
  fc::TensorView view;
  view.data = data_override_ ? data_override_
                             : const_cast<unsigned char*>(storage_.data()) + origin_;
  view.dtype = dtype_;
  view.rank = int(spec_.shape.size());
  for (std::size_t a = 0; a < spec_.shape.size(); ++a) {
    view.shape[a] = spec_.shape[a];
    view.strides[a] = view_strides_[a];
  }
  return view;
}

std::int64_t OperandBuffer::offset_of(std::int64_t linear) const {
  std::int64_t offset = 0;
  for (std::size_t a = spec_.shape.size(); a-- > 0;) {
    const std::int64_t extent = spec_.shape[a];
    offset += (linear % extent) * strides_[a];
    linear /= extent;
  }
  return offset;
}

double OperandBuffer::get(std::int64_t linear) const {
  const unsigned char* at = storage_.data() + origin_ + offset_of(linear) * std::int64_t(element_size_);
  if (element_size_ == 4) {
    float value;
    std::memcpy(&value, at, 4);
    return value;
  }
  double value;
  std::memcpy(&value, at, 8);
  return value;
}

void OperandBuffer::set(std::int64_t linear, double value) {
  unsigned char* at = storage_.data() + origin_ + offset_of(linear) * std::int64_t(element_size_);
  if (element_size_ == 4) {
    const float narrow = float(value);
    std::memcpy(at, &narrow, 4);
  } else {
    std::memcpy(at, &value, 8);
  }
}

std::int64_t OperandBuffer::max_step() const {
  std::int64_t largest = 0;
  for (std::size_t a = 0; a < strides_.size(); ++a)
    if (spec_.shape[a] > 1) largest = std::max(largest, strides_[a] < 0 ? -strides_[a] : strides_[a]);
  return largest;
}

void OperandBuffer::fill_sentinel() {
  for (std::size_t p = 0; p < storage_.size(); ++p) {
    const std::size_t phase = (p + element_size_ * 64 - origin_ % element_size_) % element_size_;
    storage_[p] = sentinel_byte(element_size_, phase);
  }
}

bool OperandBuffer::sentinel_at(std::int64_t linear) const {
  const std::size_t at = std::size_t(std::int64_t(origin_) + offset_of(linear) * std::int64_t(element_size_));
  for (std::size_t b = 0; b < element_size_; ++b)
    if (storage_[at + b] != sentinel_byte(element_size_, b)) return false;
  return true;
}

bool OperandBuffer::gaps_hold_sentinel() const {
  std::vector<bool> covered(storage_.size(), false);
  for (std::int64_t i = 0; i < numel_; ++i) {
    const std::size_t at = std::size_t(std::int64_t(origin_) + offset_of(i) * std::int64_t(element_size_));
    for (std::size_t b = 0; b < element_size_; ++b) covered[at + b] = true;
  }
  for (std::size_t p = 0; p < storage_.size(); ++p) {
    const std::size_t phase = (p + element_size_ * 64 - origin_ % element_size_) % element_size_;
    if (!covered[p] && storage_[p] != sentinel_byte(element_size_, phase)) return false;
  }
  return true;
}

bool OperandBuffer::overlaps_itself() const {
  if (numel_ == 0) return false;
  std::vector<bool> seen(std::size_t(high_ - low_ + 1), false);
  for (std::int64_t i = 0; i < numel_; ++i) {
    const std::size_t slot = std::size_t(offset_of(i) - low_);
    if (seen[slot]) return true;
    seen[slot] = true;
  }
  return false;
}

void OperandBuffer::misalign(int bytes) { allocate(bytes); }

bool OperandBuffer::set_overflowing_stride(int choice) {
  static constexpr std::int64_t kStrides[] = {std::int64_t(1) << 62, -(std::int64_t(1) << 62),
                                              std::numeric_limits<std::int64_t>::min(),
                                              std::numeric_limits<std::int64_t>::max()};
  std::vector<std::size_t> long_axes;
  for (std::size_t a = 0; a < spec_.shape.size(); ++a)
    if (spec_.shape[a] > 1) long_axes.push_back(a);
  if (long_axes.empty() || numel_ == 0) return false;
  // (extent - 1) * stride * element size >= 2^64 for each of these: the byte range overflows.
  view_strides_[long_axes[std::size_t(choice) % long_axes.size()]] = kStrides[(choice / 7) % 4];
  return true;
}

void OperandBuffer::alias_into(const OperandBuffer& input, int shift) {
  const std::int64_t span = input.high_ - input.low_ + 1;
  const std::int64_t target = input.low_ + shift % span;  // an element offset inside input's range
  data_override_ = const_cast<unsigned char*>(input.storage_.data()) + input.origin_ +
                   target * std::int64_t(input.element_size_);
}

}  // namespace fcfuzz
