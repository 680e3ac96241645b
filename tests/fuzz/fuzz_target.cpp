// fuzz_target.cpp — the libFuzzer entry points: bytes -> Case (fuzz_case.hpp) -> checks
// (fuzz_run.hpp). The same entry serves replay_main.cpp, which runs saved inputs without libFuzzer.
//
// The ISA cap (FASTCONV_MAX_ISA) is read once per process, as the library documents, so one
// fuzzing process covers one ISA level: scripts/test.sh runs one process per level.
// FASTCONV_FUZZ_PRINT=1 prints each decoded case before it runs (for reproducing a finding).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz_bytes.hpp"
#include "fuzz_case.hpp"
#include "fuzz_run.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* isa = std::getenv("FASTCONV_MAX_ISA");
  std::fprintf(stderr, "fastconv fuzz: FASTCONV_MAX_ISA=%s\n", isa ? isa : "(unset: the CPU's best)");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool print = [] {
    const char* value = std::getenv("FASTCONV_FUZZ_PRINT");
    return value && *value == '1';
  }();
  fcfuzz::ByteReader reader(data, size);
  const fcfuzz::Case c = fcfuzz::decode_case(reader);
  if (print) std::fprintf(stderr, "case: %s\n", fcfuzz::describe(c).c_str());
  fcfuzz::run_case(c);
  return 0;
}
