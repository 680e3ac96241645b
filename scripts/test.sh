#!/usr/bin/env bash
# test.sh — the README's test command: installs what is missing, builds, and runs every test:
#   1. unit tests (Release) at every ISA level this CPU has (FASTCONV_MAX_ISA caps it);
#   2. the unit tests again built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. install + find_package(fastconv) from a separate consumer project (examples/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

echo "== Release build" >&2
configure_and_build "$FASTCONV_BUILD_DIR" -DCMAKE_BUILD_TYPE=Release

for isa in avx512 avx2 scalar; do
  echo "== unit tests, FASTCONV_MAX_ISA=$isa" >&2
  FASTCONV_MAX_ISA=$isa ctest --test-dir "$FASTCONV_BUILD_DIR" --output-on-failure -j "$FASTCONV_JOBS" --timeout 600
done

echo "== sanitizer build (ASan + UBSan)" >&2
configure_and_build "$FASTCONV_BUILD_DIR-sanitize" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFASTCONV_SANITIZE=ON -DFASTCONV_BUILD_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$FASTCONV_BUILD_DIR-sanitize" --output-on-failure -j "$FASTCONV_JOBS" --timeout 1200

echo "== install and find_package(fastconv) from examples/" >&2
cmake --install "$FASTCONV_BUILD_DIR" --prefix "$FASTCONV_BUILD_DIR/install" >/dev/null
cmake -S "$FASTCONV_ROOT/examples" -B "$FASTCONV_BUILD_DIR/examples" \
  -DCMAKE_PREFIX_PATH="$FASTCONV_BUILD_DIR/install" >/dev/null
cmake --build "$FASTCONV_BUILD_DIR/examples" -j "$FASTCONV_JOBS"
"$FASTCONV_BUILD_DIR/examples/basic_conv"

echo "fastconv: all tests passed" >&2
