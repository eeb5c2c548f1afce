#!/usr/bin/env bash
# Installs what sfactory needs to build and run on Debian 12, all from
# Debian's packages: the toolchain and libraries of the build (prometheus-cpp
# serves the metrics endpoint), Lmod (verify
# stage and module tests), patchelf (relocation), zstd, ccache. Idempotent;
# run as root after `apt-get update`.
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "install-deps: run as root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends \
  build-essential cmake ninja-build pkg-config git ca-certificates curl \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
  libabsl-dev libyaml-cpp-dev libarchive-dev libspdlog-dev libfmt-dev catch2 \
  libcurl4-openssl-dev libsqlite3-dev sqlite3 libelf-dev libssl-dev nlohmann-json3-dev \
  prometheus-cpp-dev \
  lmod tcl patchelf zstd ccache python3 procps bc
