#!/usr/bin/env bash
# A native Slurm build through sfactoryd against a plain
# `./configure && make -j && make install` of the same source on the same
# machine, measured in one run. sfactoryd gets a fresh state and cache dir,
# so its ccache starts cold (no advantage from earlier runs); its time
# includes everything a user waits for: sources, configure, make, install,
# bundling, packaging, the verify stage (Lmod, munged, slurmctld, slurmd,
# srun) and storing. Target: ratio <= 1.25.
#   usage: bench/native_build_bench.sh BUILD_DIR   (root; ~15 minutes on 2 cores)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: $0 BUILD_DIR}
jobs=$(nproc)
tmp=$(mktemp -d /var/tmp/sf-native-bench.XXXXXX)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
tarball=$("$src/scripts/seed-slurm-source.sh" 24.11.5 | tail -n1)

echo "== baseline: plain configure + make -j$jobs + make install"
mkdir -p "$tmp/plain"
tar -xzf "$tarball" -C "$tmp/plain"
start=$(date +%s.%N)
(cd "$tmp/plain/slurm-slurm-24-11-5-1" && ./configure --prefix="$tmp/plain/prefix" > ../configure.log 2>&1 \
  && make -j"$jobs" > ../make.log 2>&1 && make install > ../install.log 2>&1)
plain=$(echo "$(date +%s.%N) - $start" | bc)
echo "plain: ${plain} s"

echo "== sfactoryd: submit 24.11.5 --recipe native (cold ccache, verify on)"
cat > "$tmp/sfactoryd.yaml" <<EOC
listen: [unix:$tmp/sfactoryd.sock]
state_dir: $tmp/state
provider: local
data_dir: $src/templates
build_jobs: $jobs
EOC
"$build/daemon/service/sfactoryd" --config "$tmp/sfactoryd.yaml" > "$tmp/daemon.log" 2>&1 &
echo $! > "$tmp/pid"
export SFACTORY_ADDRESS="unix:$tmp/sfactoryd.sock"
for i in $(seq 1 100); do "$build/client/sfactory" info > /dev/null 2>&1 && break; sleep 0.1; done
"$build/client/sfactory" sources add "$tarball" > /dev/null
start=$(date +%s.%N)
if ! "$build/client/sfactory" submit 24.11.5 --recipe native > "$tmp/build.log" 2>&1; then
  tail -n 40 "$tmp/build.log"
  echo "the build through sfactoryd failed; no ratio"
  exit 1
fi
sf=$(echo "$(date +%s.%N) - $start" | bc)
echo "sfactoryd: ${sf} s"
id=$(head -n1 "$tmp/build.log")
"$build/client/sfactory" status "$id" | sed -n '/phases:/,/^$/p'
ratio=$(echo "scale=3; $sf / $plain" | bc)
verdict=$(echo "$ratio <= 1.25" | bc)
echo "ratio sfactoryd/plain: $ratio (target <= 1.25) $([ "$verdict" = 1 ] && echo PASS || echo MISSED)"
