#!/usr/bin/env bash
# Builds sfactoryd and sfactory (every daemon/, common/ and client/ library;
# no tests or benchmarks) with clang and -Werror=thread-safety, so a member
# marked ABSL_GUARDED_BY(mu_) that is touched without mu_ held fails the
# build. GCC ignores these annotations; scripts/test.sh runs this in CI.
#   BUILD_DIR  the main build directory; this one is $BUILD_DIR-thread-safety
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$src/build}-thread-safety
command -v clang++ > /dev/null || { echo "build-thread-safety: clang++ not found (apt-get install clang)" >&2; exit 1; }
cmake -S "$src" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DSFACTORY_THREAD_SAFETY=ON -DSFACTORY_WERROR=ON \
  -DSFACTORY_BUILD_TESTS=OFF -DSFACTORY_BUILD_BENCH=OFF \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$(command -v ccache || true)" > /dev/null
cmake --build "$build" -j"$(nproc)" --target sfactoryd sfactory
