#!/usr/bin/env bash
# setup.sh — sourced by the README's commands: installs missing Debian packages (apt; sudo when
# not root) and configures + builds fastconv in build/ (Release, warnings as errors).
#   FASTCONV_BUILD_DIR   build directory (default: build)
#   FASTCONV_JOBS        parallel build jobs (default: number of cores)
set -euo pipefail

FASTCONV_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FASTCONV_BUILD_DIR="${FASTCONV_BUILD_DIR:-$FASTCONV_ROOT/build}"
FASTCONV_JOBS="${FASTCONV_JOBS:-$(nproc)}"

# The one list of system packages the build and tests need.
FASTCONV_PACKAGES=(cmake make g++ libgomp1 libgtest-dev
                   clang-14 libclang-rt-14-dev libomp-14-dev  # the ASan+UBSan build and libFuzzer
                   python3 python3-dev python3-venv python3-pip python3-setuptools pybind11-dev
                   python3-numpy python3-torch python3-pytest python3-hypothesis
                   python3-sympy  # fastconv.custom_conv*d: derivatives of expressions
                   python3-matplotlib  # fastconv-bench --plot
                   libtorch-dev libdnnl-dev)  # the last two: fastconv-bench's PyTorch and oneDNN peers

install_missing_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "fastconv: installing ${missing[*]}" >&2
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# configure_and_build DIR [cmake args...]
configure_and_build() {
  local dir="$1"
  shift
  cmake -S "$FASTCONV_ROOT" -B "$dir" -DFASTCONV_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$FASTCONV_JOBS"
}

install_missing_packages "${FASTCONV_PACKAGES[@]}"
