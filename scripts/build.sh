#!/usr/bin/env bash
# Configures and builds sfactory into $BUILD_DIR (default ./build).
#   BUILD_TYPE  CMake build type (default RelWithDebInfo)
#   WERROR      ON/OFF: warnings are errors (default ON)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$src/build}
jobs=$(nproc)
cmake -S "$src" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DSFACTORY_WERROR="${WERROR:-ON}" \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$(command -v ccache || true)"
cmake --build "$build" -j"$jobs"
