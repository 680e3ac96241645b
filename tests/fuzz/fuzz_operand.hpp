// fuzz_operand.hpp — one operand's memory, laid out as the fuzzer input says.
//
// The storage is exactly the bytes the view spans (plus the misalignment, if any), allocated on
// its own, so AddressSanitizer reports any read or write outside the view's range. Elements are
// read and written by logical row-major index, whatever the strides. Outputs are filled with a
// signalling-NaN byte pattern that no arithmetic produces, so untouched bytes can be told apart.
#pragma once

#include <cstdint>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "fuzz_bytes.hpp"
#include "fuzz_case.hpp"

namespace fcfuzz {

class OperandBuffer {
 public:
  OperandBuffer(const OperandSpec& spec, fastconv::DType dtype, SplitMix& rng);

  const OperandSpec& spec() const { return spec_; }
  fastconv::TensorView view() const;  // what is passed to the library (faults included)
  std::int64_t numel() const { return numel_; }
  double get(std::int64_t linear) const;  // logical row-major element of the laid-out view
  void set(std::int64_t linear, double value);
  std::int64_t max_step() const;          // largest |stride| of an axis longer than 1

  void fill_sentinel();
  std::vector<unsigned char> snapshot() const { return storage_; }
  bool unchanged_since(const std::vector<unsigned char>& before) const { return storage_ == before; }
  // After a successful run: every byte outside the view's elements still holds the sentinel.
  bool gaps_hold_sentinel() const;
  // Brute force: do two elements share an offset?
  bool overlaps_itself() const;
  bool sentinel_at(std::int64_t linear) const;  // the element still holds the sentinel bytes

  // Faults (fuzz_case.hpp): each makes the view one the library must refuse.
  void misalign(int bytes);                             // data pointer off by `bytes`
  bool set_overflowing_stride(int choice);             // false if no axis is longer than 1
  void alias_into(const OperandBuffer& input, int shift);  // data inside `input`'s bytes

 private:
  std::int64_t offset_of(std::int64_t linear) const;  // element offset from element 0
  void allocate(int misalign_bytes);

  OperandSpec spec_;
  fastconv::DType dtype_;
  std::size_t element_size_;
  std::vector<std::int64_t> strides_;
  std::int64_t numel_ = 0;
  std::int64_t low_ = 0, high_ = 0;  // smallest and largest element offset
  std::vector<unsigned char> storage_;
  std::size_t origin_ = 0;            // byte position of element 0 in storage_
  void* data_override_ = nullptr;     // alias fault: the view's data lives elsewhere
  std::vector<std::int64_t> view_strides_;  // overflowing-stride fault changes one
};

}  // namespace fcfuzz
