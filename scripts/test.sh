#!/usr/bin/env bash
# The test command (README; .ci/run calls it). On a fresh Debian 12 machine,
# as root, it installs every package the suite needs (apt-get update first),
# starts LXD for the `lxd` tests, builds with warnings as errors and runs the
# default ctest suite: unit, integration and lxd tests. The long end-to-end
# Slurm builds are under the `e2e` label and run only with SFACTORY_E2E=1.
#   BUILD_DIR      build directory (default ./build-test)
#   SFACTORY_E2E   1: also run the e2e label (adds ~20 minutes)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
export BUILD_DIR=${BUILD_DIR:-$src/build-test}

if [[ $(id -u) -eq 0 ]]; then
  apt-get update -q
  "$src/scripts/install-deps.sh"
  "$src/scripts/install-build-deps.sh"   # the native recipe's packages (local provider)
  "$src/scripts/install-test-tools.sh"   # environment-modules for the Tcl module test
  "$src/scripts/lxd-setup.sh" || echo "test.sh: LXD could not start; the lxd tests will say so" >&2
else
  echo "test.sh: not root: skipping package installs and LXD setup" >&2
fi

WERROR=ON "$src/scripts/build.sh"

cd "$BUILD_DIR"
labels=(-LE e2e)
[[ "${SFACTORY_E2E:-0}" == 1 ]] && labels=()
# ctest prints its summary line ("N% tests passed, ...") for CI to read.
ctest --output-on-failure --timeout 900 "${labels[@]}"
