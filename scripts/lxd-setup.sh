#!/usr/bin/env bash
# Installs, starts and initialises LXD for sfactoryd (the `lxd` provider and
# the `lxd`-labelled tests). Idempotent; run as root. The caller has run
# `apt-get update`. Exits non-zero with a message when LXD cannot start.
#
#   SFACTORY_LXD_LOG   log file when lxd is started by hand
#                      (default /var/log/lxd-sfactory.log)
#   SFACTORY_LXD_POOL  storage pool created when there is none (default "default")
#   SFACTORY_LXD_DRIVER  its driver: "dir" (default) or "btrfs" (a loop file of
#                      SFACTORY_LXD_POOL_SIZE, default 30GiB; copies a base in
#                      ~0.2 s instead of unpacking it, see docs/LXD.md)
set -euo pipefail

log=${SFACTORY_LXD_LOG:-/var/log/lxd-sfactory.log}
pool=${SFACTORY_LXD_POOL:-default}
driver=${SFACTORY_LXD_DRIVER:-dir}

die() { echo "lxd-setup: $*" >&2; exit 1; }
say() { echo "lxd-setup: $*"; }

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts lxd)"

if ! command -v lxd >/dev/null || ! command -v lxc >/dev/null || ! command -v debootstrap >/dev/null; then
  say "installing lxd and debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    lxd lxd-client debootstrap ca-certificates squashfs-tools xz-utils \
    || die "apt-get install lxd debootstrap failed (did the caller run apt-get update?)"
fi

answers() { timeout 10 lxc query /1.0 >/dev/null 2>&1; }

if ! answers; then
  if [[ $(cat /proc/1/comm 2>/dev/null) == systemd ]] &&
     systemctl list-unit-files lxd.service >/dev/null 2>&1 &&
     systemctl list-unit-files lxd.service | grep -q '^lxd\.service'; then
    say "starting lxd with systemctl"
    systemctl start lxd.socket lxd.service || true
  fi
fi
if ! answers; then
  say "starting lxd by hand (log: $log)"
  mkdir -p "$(dirname "$log")"
  # setsid: the daemon must outlive this script and the caller's process group.
  # shellcheck disable=SC2094  # lxd only writes its --logfile; its output goes to the same log
  setsid lxd --group root --logfile "$log" </dev/null >>"$log" 2>&1 &
  lxd waitready --timeout 60 || { tail -n 30 "$log" >&2 || true; die "lxd did not start (see $log)"; }
fi
answers || die "lxd is not answering on its unix socket"
say "lxd answers: $(lxc query /1.0 | grep -m1 -o '"server_version": *"[^"]*"' || true)"

# A storage pool, and a root disk on the default profile for anything else
# that launches instances by hand. sfactoryd itself names the pool explicitly.
if [[ $(lxc query /1.0/storage-pools) == "[]" ]]; then
  case $driver in
    dir)
      say "creating storage pool $pool (dir)"
      lxc storage create "$pool" dir ;;
    btrfs)
      command -v mkfs.btrfs >/dev/null ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends btrfs-progs
      say "creating storage pool $pool (btrfs on a loop file)"
      lxc storage create "$pool" btrfs size="${SFACTORY_LXD_POOL_SIZE:-30GiB}" ;;
    *) die "SFACTORY_LXD_DRIVER must be dir or btrfs, not '$driver'" ;;
  esac
fi
if ! lxc profile device show default | grep -q '^root:'; then
  first_pool=$(lxc query /1.0/storage-pools | grep -m1 -o '/1.0/storage-pools/[^"]*' | sed 's|.*/||')
  say "adding a root disk on pool $first_pool to the default profile"
  lxc profile device add default root disk path=/ pool="$first_pool"
fi

# Unprivileged containers map their root to a host range; a writable cache
# mount that keeps host ownership needs the daemon's uid/gid delegated to
# root (raw.idmap). Delegate root's own ids (0) and the sfactory user's if any.
delegate() {
  local file=$1 id=$2
  grep -qx "root:$id:1" "$file" 2>/dev/null || { echo "root:$id:1" >>"$file"; changed=1; }
}
changed=0
delegate /etc/subuid 0
delegate /etc/subgid 0
if getent passwd sfactory >/dev/null; then
  delegate /etc/subuid "$(id -u sfactory)"
  delegate /etc/subgid "$(id -g sfactory)"
fi
if [[ $changed -eq 1 ]]; then
  say "delegated ids in /etc/subuid and /etc/subgid; restarting lxd so that it sees them"
  if [[ $(cat /proc/1/comm 2>/dev/null) == systemd ]] && systemctl is-active -q lxd 2>/dev/null; then
    systemctl restart lxd
  else
    lxd shutdown --timeout 60 || true
    # shellcheck disable=SC2094  # lxd only writes its --logfile; its output goes to the same log
    setsid lxd --group root --logfile "$log" </dev/null >>"$log" 2>&1 &
  fi
  lxd waitready --timeout 60 || die "lxd did not come back after the restart (see $log)"
fi
say "ready"
