// format.hpp — small helpers to build error messages and descriptions.
#pragma once

#include <cstdint>
#include <span>
#include <sstream>
#include <string>

namespace fastconv::detail {

inline std::string list_string(std::span<const std::int64_t> values) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  out << ']';
  return out.str();
}

// "0x7f3a5c001004": an address as the messages about alignment and aliasing print it.
inline std::string address_string(const void* address) {
  std::ostringstream out;
  out << "0x" << std::hex << reinterpret_cast<std::uintptr_t>(address);
  return out.str();
}

}  // namespace fastconv::detail
