// fuzz_run.hpp — runs one decoded case through every engine and checks the library's promises.
//
// For the convolution kinds, unfold and fold, each engine of fastconv::kAllEngines:
//   - either accepts, and then its outputs agree with the float64 reference (fuzz_oracle.hpp),
//     no byte outside the output views changed, the inputs did not change, and a second run of
//     the same plan (when asked) gives identical bits;
//   - or refuses with fastconv::Error, and then no byte of any output or input changed.
// Across engines: when the reference refuses, `auto` refuses with the same ErrorKind and every
// other engine with that kind or engine_declined; when it accepts, `auto` accepts and every other
// engine accepts or declines. Independently of the library, the fuzzer knows what must be
// refused (a fault put in on purpose, an output that truly overlaps itself, a misaligned
// workspace, shapes the shape functions refused) and what must be accepted (a problem decoded
// without wild values or faults). windows() is checked against its formula, element by element.
// Any other exception, a crash, a sanitizer report or a hang is a failure too. A failure prints
// the case (fuzz_case.hpp describe()) and aborts, so libFuzzer saves the input.
#pragma once

#include "fuzz_case.hpp"

namespace fcfuzz {

void run_case(const Case& c);

}  // namespace fcfuzz
