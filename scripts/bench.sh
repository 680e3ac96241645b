#!/usr/bin/env bash
# bench.sh — the README's benchmark command: installs what is missing, builds (Release) and runs
# fastconv-bench. Arguments go to fastconv-bench. Without arguments: every suite with the `auto`
# engine side by side with the peers built in (PyTorch, oneDNN), one table at 1 thread, then one
# at 2 threads with --scaling (each fastconv row also timed at 1 thread in the same rounds).
# `scripts/bench.sh --python [ARGS]` (--python first) builds the same way, then runs
# bench/python_recipes_bench.py ARGS instead: the recipes users write in Python against F.conv2d
# and fastconv.conv2d, one thread; its plots go to $FASTCONV_BUILD_DIR/python-bench unless
# --plot-dir says otherwise.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

configure_and_build "$FASTCONV_BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DFASTCONV_BUILD_TESTS=OFF
bench="$FASTCONV_BUILD_DIR/tools/fastconv-bench/fastconv-bench"
if [ "${1:-}" = "--python" ]; then
  shift
  export PYTHONPATH="$FASTCONV_BUILD_DIR/python${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=1
  exec /usr/bin/python3 "$FASTCONV_ROOT/bench/python_recipes_bench.py" \
    --plot-dir "$FASTCONV_BUILD_DIR/python-bench" "$@"
fi
if [ $# -eq 0 ]; then
  status=0
  for threads in 1 2; do
    scaling=()
    [ "$threads" -gt 1 ] && scaling=(--scaling)
    "$bench" --suite all --engine auto --threads "$threads" "${scaling[@]}" || status=1
    echo
  done
  exit $status
fi
exec "$bench" "$@"
