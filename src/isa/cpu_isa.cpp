// cpu_isa.cpp — CPU feature detection and the FASTCONV_MAX_ISA cap.
#include "isa/cpu_isa.hpp"

#include <cstdlib>
#include <string>

#include "fastconv/error.hpp"

namespace fastconv::detail {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "unknown";
}

Isa detected_isa() {
#if defined(__x86_64__) || defined(__i386__)
  // libgcc's checks include the OS's XSAVE support for the wider registers.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::scalar;
}

static Isa compute_active_isa() {
  const Isa detected = detected_isa();
  const char* cap = std::getenv("FASTCONV_MAX_ISA");
  if (cap == nullptr || *cap == '\0') return detected;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (std::string(cap) == isa_name(isa)) return int(isa) < int(detected) ? isa : detected;
  }
  throw Error(ErrorKind::invalid_argument, std::string("FASTCONV_MAX_ISA = '") + cap +
                                               "'; expected avx512, avx2 or scalar");
}

Isa active_isa() {
  static const Isa active = compute_active_isa();
  return active;
}

}  // namespace fastconv::detail
