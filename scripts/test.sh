#!/usr/bin/env bash
# test.sh — the README's test command: installs what is missing, builds, and runs every test:
#   1. C++ unit tests and the Python tests (pytest, against PyTorch), Release build;
#   2. the C++ unit tests again at every lower ISA level (FASTCONV_MAX_ISA caps it);
#   3. the C++ unit tests built with AddressSanitizer + UndefinedBehaviorSanitizer, fastconv-bench
#      (without its PyTorch / oneDNN peers) and its tests included;
#   4. install + find_package(fastconv) from a separate consumer project (examples/);
#   5. the pip package built offline into a fresh venv, imported and called.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

echo "== Release build" >&2
configure_and_build "$FASTCONV_BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
ctest_run() { ctest --output-on-failure -j "$FASTCONV_JOBS" "$@"; }

echo "== unit tests and Python tests (native ISA)" >&2
ctest_run --test-dir "$FASTCONV_BUILD_DIR"
for isa in avx2 scalar; do
  echo "== C++ unit tests, FASTCONV_MAX_ISA=$isa" >&2
  FASTCONV_MAX_ISA=$isa ctest_run --test-dir "$FASTCONV_BUILD_DIR" -E python_tests
done

echo "== sanitizer build (ASan + UBSan)" >&2
configure_and_build "$FASTCONV_BUILD_DIR-sanitize" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFASTCONV_SANITIZE=ON -DFASTCONV_BUILD_BENCH=ON -DFASTCONV_BENCH_PEERS=OFF -DFASTCONV_BUILD_PYTHON=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest_run --test-dir "$FASTCONV_BUILD_DIR-sanitize"

echo "== install and find_package(fastconv) from examples/" >&2
cmake --install "$FASTCONV_BUILD_DIR" --prefix "$FASTCONV_BUILD_DIR/install" >/dev/null
cmake -S "$FASTCONV_ROOT/examples" -B "$FASTCONV_BUILD_DIR/examples" \
  -DCMAKE_PREFIX_PATH="$FASTCONV_BUILD_DIR/install" >/dev/null
cmake --build "$FASTCONV_BUILD_DIR/examples" -j "$FASTCONV_JOBS"
"$FASTCONV_BUILD_DIR/examples/basic_conv"
"$FASTCONV_BUILD_DIR/examples/custom_conv"

echo "== pip install into a venv (offline, Debian's pip and setuptools)" >&2
venv="$FASTCONV_BUILD_DIR/venv"
rm -rf "$venv"
/usr/bin/python3 -m venv --system-site-packages "$venv"
# The package's CMake build reuses the Release build above (same compiler flags), so the library
# is not compiled a third time; a plain `pip install .` configures and builds its own.
(cd "$FASTCONV_ROOT" && FASTCONV_CMAKE_BUILD_DIR="$FASTCONV_BUILD_DIR" \
   "$venv/bin/pip" install -q --no-build-isolation --no-index .)
(cd "$venv" && "$venv/bin/python" "$FASTCONV_ROOT/examples/python_example.py")

echo "fastconv: all tests passed" >&2
