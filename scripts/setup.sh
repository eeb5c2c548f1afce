#!/usr/bin/env bash
# The setup command (README): on a fresh Debian 12 machine, as root,
#  1. installs the packages (apt-get update first), LXD included,
#  2. builds and installs sfactory under /usr/local,
#  3. starts sfactoryd (systemd when it is PID 1, otherwise in the background
#     with its log in /var/log/sfactoryd.log),
#  4. seeds Slurm 24.11.5's source into the source cache from Debian's source
#     package (this host has no route to SchedMD), or, with
#     SFACTORY_SLURM_TARBALLS=DIR (a directory of GitHub tag archives such as
#     ../shared/vendor/slurm), the pinned 24.11 release (24.11.7) from DIR, and
#  5. runs the main job: `sfactory submit 24.11.5 --fetch ./out` (or 24.11):
#     a native Slurm build, relocated, audited, verified and fetched.
#   SFACTORY_SKIP_JOB=1   stop after step 4
#   SFACTORY_OUT=DIR      where the main job's artifacts go (default ./out)
#   SFACTORY_SLURM_TARBALLS=DIR  seed from a directory of tag archives
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=${SFACTORY_OUT:-$PWD/out}
[[ $(id -u) -eq 0 ]] || { echo "setup: run as root (sudo $0)" >&2; exit 1; }
say() { echo "==> setup: $*"; }

say "installing packages"
apt-get update -q
"$src/scripts/install-deps.sh"
"$src/scripts/install-build-deps.sh"
if ! "$src/scripts/lxd-setup.sh"; then
  # `provider: auto` waits for an installed LXD; say in the config that this
  # host builds with the local provider instead.
  say "LXD could not start; sfactoryd will use the local provider (provider: local in /etc/sfactory/sfactoryd.yaml)"
  install -d /etc/sfactory
  grep -qs '^provider:' /etc/sfactory/sfactoryd.yaml ||
    echo "provider: local  # written by setup.sh: LXD could not start on this host" >> /etc/sfactory/sfactoryd.yaml
fi

say "building"
BUILD_DIR="$src/build" BUILD_TYPE=Release WERROR=OFF "$src/scripts/build.sh"
say "installing under /usr/local"
cmake --install "$src/build"
getent group sfactory >/dev/null || groupadd --system sfactory
install -d -m 0750 -g sfactory /var/lib/sfactory /run/sfactory

say "starting sfactoryd"
if [[ $(cat /proc/1/comm 2>/dev/null) == systemd ]]; then
  systemctl daemon-reload
  systemctl enable --now sfactoryd
  systemctl restart sfactoryd
else
  # shellcheck disable=SC2086  # pgrep may print several pids: split them
  if pid=$(pgrep -x sfactoryd); then kill -TERM $pid; while kill -0 $pid 2>/dev/null; do sleep 0.2; done; fi
  setsid /usr/local/sbin/sfactoryd </dev/null >>/var/log/sfactoryd.log 2>&1 &
fi
for _ in $(seq 1 100); do sfactory info >/dev/null 2>&1 && break; sleep 0.2; done
sfactory info

# The 24.11 release to build: the catalog's pinned one (24.11.7) when a
# directory of tag archives is given, else 24.11.5, the one Debian's mirror
# carries (no route to GitHub needed).
if [[ -n "${SFACTORY_SLURM_TARBALLS:-}" ]]; then
  version=24.11
  say "seeding the Slurm $version source from $SFACTORY_SLURM_TARBALLS"
  tarball=$("$src/scripts/seed-slurm-source.sh" --from "$SFACTORY_SLURM_TARBALLS" "$version" | tail -n1)
else
  version=24.11.5
  say "seeding the Slurm $version source from Debian"
  tarball=$("$src/scripts/seed-slurm-source.sh" "$version" | tail -n1)
fi
sfactory sources add "$tarball"

[[ "${SFACTORY_SKIP_JOB:-0}" == 1 ]] && { say "done (main job skipped)"; exit 0; }
say "main job: sfactory submit $version --fetch $out"
sfactory submit "$version" --fetch "$out"
say "done: artifacts in $out"
ls -l "$out"
