#!/usr/bin/env bash
# bench.sh — the README's benchmark command: installs what is missing, builds (Release) and runs
# fastconv-bench. Arguments go to fastconv-bench (default: --suite all).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

configure_and_build "$FASTCONV_BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DFASTCONV_BUILD_TESTS=OFF
[ $# -eq 0 ] && set -- --suite all
exec "$FASTCONV_BUILD_DIR/tools/fastconv-bench/fastconv-bench" "$@"
