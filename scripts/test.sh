#!/usr/bin/env bash
# test.sh — the README's test command: installs what is missing, builds, and runs every test:
#   1. C++ unit tests and the Python tests (pytest, against PyTorch), Release build;
#   2. the C++ unit tests again at every lower ISA level (FASTCONV_MAX_ISA caps it);
#   3. the C++ unit tests built with clang-14, AddressSanitizer + UndefinedBehaviorSanitizer,
#      fastconv-bench (without its PyTorch / oneDNN peers) and its tests included; then the
#      libFuzzer target (tests/fuzz) from the same build, 25 s at each ISA level;
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

echo "== sanitizer build (clang-14, ASan + UBSan, with the fuzz target)" >&2
sanitize_dir="$FASTCONV_BUILD_DIR-sanitize"
# A directory configured by an earlier version of this script with g++ is reconfigured from scratch.
if [ -f "$sanitize_dir/CMakeCache.txt" ] &&
   ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++-14$' "$sanitize_dir/CMakeCache.txt"; then
  rm -rf "$sanitize_dir"
fi
configure_and_build "$sanitize_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DFASTCONV_SANITIZE=ON -DFASTCONV_FUZZ=ON -DFASTCONV_BUILD_BENCH=ON -DFASTCONV_BENCH_PEERS=OFF \
  -DFASTCONV_BUILD_PYTHON=OFF
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest_run --test-dir "$sanitize_dir"

# The fuzzer: a fixed time budget per ISA level (the cap is read once per process), new inputs
# kept in the build directory between runs, the checked-in seeds read only. README: "Fuzzing".
# Findings of open defects fixed on other branches are looked past (tests/fuzz/CMakeLists.txt).
echo "== fuzzing under ASan + UBSan, 25 s per ISA level" >&2
mkdir -p "$sanitize_dir/fuzz-corpus" "$sanitize_dir/fuzz-findings"
for isa in avx512 avx2 scalar; do
  log="$sanitize_dir/fuzz-$isa.log"
  if FASTCONV_MAX_ISA=$isa OMP_WAIT_POLICY=PASSIVE \
     "$sanitize_dir/tests/fuzz/fastconv_fuzz" "$sanitize_dir/fuzz-corpus" "$FASTCONV_ROOT/tests/fuzz/corpus" \
       -max_total_time=25 -timeout=60 -rss_limit_mb=2048 -max_len=96 -len_control=0 -seed=17 \
       -artifact_prefix="$sanitize_dir/fuzz-findings/" >"$log" 2>&1; then
    echo "-- FASTCONV_MAX_ISA=$isa: $(grep -E '^Done' "$log")" >&2
  else
    tail -n 80 "$log" >&2
    echo "fastconv: the fuzzer found a failure at FASTCONV_MAX_ISA=$isa (input in" \
         "$sanitize_dir/fuzz-findings/, log $log; rerun it: $sanitize_dir/tests/fuzz/fastconv_fuzz FILE)" >&2
    exit 1
  fi
done

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
# custom ops: compiles its expressions with the headers the package installed
(cd "$venv" && FASTCONV_CACHE_DIR="$FASTCONV_BUILD_DIR/custom-op-cache" \
   "$venv/bin/python" "$FASTCONV_ROOT/examples/custom_ops.py")

echo "fastconv: all tests passed" >&2
