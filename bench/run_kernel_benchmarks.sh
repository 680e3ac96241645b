#!/bin/sh
# run_kernel_benchmarks.sh BUILD_DIR [extra Google Benchmark flags...]
# Runs every microkernel benchmark (bench/*_bench.cpp, built as BUILD_DIR/bench/*_bench) with
# --benchmark_min_time=0.1; each reports a GFLOP/s counter. FASTCONV_MAX_ISA caps the kernels run.
set -eu
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILD_DIR [benchmark flags...]" >&2
  exit 2
fi
build_dir=$1
shift
found=0
status=0
for program in "$build_dir"/bench/*_bench; do
  [ -x "$program" ] || continue
  found=1
  echo "== $(basename "$program")"
  "$program" --benchmark_min_time=0.1 "$@" || status=1
done
if [ "$found" -eq 0 ]; then
  echo "no *_bench programs in $build_dir/bench (is Google Benchmark installed? libbenchmark-dev)" >&2
  exit 1
fi
exit $status
