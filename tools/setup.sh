#!/usr/bin/env bash
# Installs what radars-cl needs that is missing (Debian 12 packages), then configures and builds.
#   tools/setup.sh [BUILD_DIR] [extra cmake args...]
# Set RADARS_SKIP_APT=1 to skip the package step (e.g. without root).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config
  ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clinfo
  mesa-opencl-icd libclc-15 oclgrind
  libclblast-dev clblast-utils
  libpng-dev zlib1g-dev libjson-c-dev libinih-dev
  libcairo2-dev libgraphviz-dev fonts-dejavu-core
  check locales
  openmpi-bin libopenmpi-dev
  clang libclang-rt-14-dev
  dataset-fashion-mnist
  python3 python3-torch
)

if [ "${RADARS_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

BUILD_DIR=${1:-build}
shift || true
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
