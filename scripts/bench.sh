#!/usr/bin/env bash
# bench.sh — the README's benchmark command: installs what is missing, builds (Release) and runs
# fastconv-bench. Arguments go to fastconv-bench. Without arguments: every suite with the `auto`
# engine side by side with the peers built in (PyTorch, oneDNN), one table at 1 thread, then one
# at 2 threads with --scaling (each fastconv row also timed at 1 thread in the same rounds).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

configure_and_build "$FASTCONV_BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DFASTCONV_BUILD_TESTS=OFF
bench="$FASTCONV_BUILD_DIR/tools/fastconv-bench/fastconv-bench"
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
