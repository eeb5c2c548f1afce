#!/usr/bin/env bash
# End to end (ctest label e2e): Slurm 24.11.5 built by the native recipe
# through the real sfactoryd and sfactory, its source seeded from Debian's
# source package; fetched; unpacked to a new random prefix on this machine;
# module loaded with Lmod; a one-node cluster started from the package runs
# `srun hostname`; `sfactory install` puts it under a cluster-like prefix
# and `sinfo -V` runs from the loaded module.
#   SFACTORY_E2E_PROVIDER  local (default) or lxd
#   SFACTORY_E2E_CACHE     cache_dir to reuse between runs (ccache); default: fresh
# Exit 77 (skipped) only when the lxd provider is asked for and LXD does not answer.
source "$(dirname "$0")/../integration/lib.sh"
provider=${SFACTORY_E2E_PROVIDER:-local}
if [[ $provider == lxd ]] && ! timeout 10 lxc query /1.0 > /dev/null 2>&1; then
  skip "LXD does not answer (run scripts/lxd-setup.sh as root)"
fi
cache=${SFACTORY_E2E_CACHE:-$TEST_TMP/cache}
write_config "default_recipe: native" "cache_dir: $cache" "provider: $provider" "max_parallel_builds: 1"
start_daemon
sf info | grep -q "provider:  $provider (ready)" || { sf info; fail "provider $provider is not ready"; }

tarball=$("$SFACTORY_SOURCE_DIR/scripts/seed-slurm-source.sh" 24.11.5 | tail -n1)
sf sources add "$tarball" > /dev/null

start=$(date +%s)
sf submit 24.11.5 --recipe native --fetch "$TEST_TMP/out" > "$TEST_TMP/build.log" 2> "$TEST_TMP/submit.err" \
  || { tail -n 60 "$TEST_TMP/build.log"; cat "$TEST_TMP/submit.err"; fail "the native build failed"; }
log "build + verify + fetch took $(( $(date +%s) - start )) s"
grep -q "CHECK srun hostname: ok" "$TEST_TMP/build.log" || grep -q "srun hostname" "$TEST_TMP/build.log" \
  || fail "the verify stage did not run srun hostname"
(cd "$TEST_TMP/out" && sha256sum -c SHA256SUMS > /dev/null) || fail "SHA256SUMS does not verify"

# Independently of the daemon's verify stage: a new random prefix on this
# machine, the fetched files only, the recipe's own cluster check.
soft=$(ls "$TEST_TMP/out"/slurm-24.11.5-native-*-software.tar.*)
mod=$(ls "$TEST_TMP/out"/slurm-24.11.5-native-*-module.tar.gz)
work=$(mktemp -d "$TEST_TMP/fresh.XXXXXX")
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" LANG=C.UTF-8 \
  SF_WORK="$work" SF_VERSION=24.11.5 SF_SERIES=24.11 SF_BUILD_ID=e2e \
  SF_SOFTWARE_TARBALL="$soft" SF_MODULE_TARBALL="$mod" \
  bash -eo pipefail "$SFACTORY_SOURCE_DIR/templates/recipes/native/verify-cluster.sh" \
  > "$TEST_TMP/fresh.log" 2>&1 || { tail -n 60 "$TEST_TMP/fresh.log"; fail "srun hostname from a fresh prefix failed"; }
grep "CHECK" "$TEST_TMP/fresh.log" >&2

# As an admin deploys it: sfactory install (fetching from the daemon), then
# a clean login shell loads the module and runs sinfo from the install dir.
[ -r /usr/share/lmod/lmod/init/bash ] || fail "Lmod is not installed (scripts/install-build-deps.sh)"
id=$(sf list --state succeeded --version 24.11.5 --json | json_field builds.0.id)
digest=$(sf status "$id" --json | json_field digest)
prefix="$TEST_TMP/cluster/apps/slurm"
modules="$TEST_TMP/cluster/modulefiles"
installed="$prefix/24.11.5-${digest:0:12}"
XDG_CACHE_HOME="$TEST_TMP/xdg-cache" sf install "$id" --prefix "$prefix" --modules "$modules" \
  > "$TEST_TMP/install.out" || fail "sfactory install exited $?: $(cat "$TEST_TMP/install.out")"
[ "$(readlink "$prefix/24.11.5")" = "24.11.5-${digest:0:12}" ] || fail "$prefix/24.11.5 -> $(readlink "$prefix/24.11.5")"
# Slurm's commands read a configuration even for -V (24.11 asks DNS for SRV
# records when there is none): a minimal one, as verify-smoke.sh writes.
cat > "$TEST_TMP/cluster/slurm.conf" <<CONF
ClusterName=sfinstall
SlurmctldHost=localhost
PluginDir=$installed/lib/slurm
NodeName=localhost CPUs=1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES
CONF
sinfo_out=$(env -i PATH=/usr/bin:/bin HOME="$work" LANG=C.UTF-8 SLURM_CONF="$TEST_TMP/cluster/slurm.conf" \
  timeout 60 bash --noprofile --norc -c \
  "source /usr/share/lmod/lmod/init/bash; module use $modules; module load slurm/24.11.5 && command -v sinfo && sinfo -V") \
  || fail "loading slurm/24.11.5 or sinfo -V failed: $sinfo_out"
[ "$(head -n1 <<< "$sinfo_out")" = "$installed/bin/sinfo" ] || fail "sinfo is not the installed one: $sinfo_out"
grep -qx "slurm 24.11.5" <<< "$sinfo_out" || fail "sinfo -V printed: $sinfo_out"
log "CHECK sinfo -V from the installed module: $(tail -n1 <<< "$sinfo_out")"
log "ok"
