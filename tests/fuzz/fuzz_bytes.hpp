// fuzz_bytes.hpp — reading a fuzzer input as a sequence of decisions.
//
// Every decision takes the next byte; past the end of the input every byte reads as 0, so a short
// input decodes to the simplest problem and each extra byte refines it. Bulk values (tensor
// contents) come from a SplitMix64 stream seeded by 8 input bytes, so inputs stay small.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fcfuzz {

class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t byte() { return position_ < size_ ? data_[position_++] : 0; }
  // A value in [0, count): the next byte modulo count (count <= 256).
  int pick(int count) { return byte() % count; }
  // True with probability about per256 / 256 (never for an exhausted input when per256 <= 255).
  bool chance(int per256) { return position_ < size_ && byte() < per256; }
  std::uint64_t u64() {
    std::uint64_t value = 0;
    for (int i = 0; i < 8; ++i) value |= std::uint64_t(byte()) << (8 * i);
    return value;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t position_ = 0;
};

// SplitMix64: a tiny, fully specified generator (results identical on every platform).
class SplitMix {
 public:
  explicit SplitMix(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::int64_t uniform(std::int64_t lo, std::int64_t hi) {  // inclusive; hi - lo < 2^32
    return lo + std::int64_t(next() % std::uint64_t(hi - lo + 1));
  }
  double unit() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  bool chance(double probability) { return unit() < probability; }

 private:
  std::uint64_t state_;
};

}  // namespace fcfuzz
