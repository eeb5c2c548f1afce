#!/usr/bin/env bash
# seed-slurm-source.sh [--into DIR] [--cache DIR] [VERSION]
#
# Fetches the Slurm upstream source tarball from Debian's source package
# `slurm-wlm` (suite trixie), verifies its sha256 and prints its path.
# Only releases listed in the table below are known; the default is 24.11.5.
#
# The tarball is kept in a cache (default /var/cache/sfactory-seed, override
# with --cache or SFACTORY_SEED_CACHE) so reruns do not download again.
# With --into DIR a copy is also placed in DIR (e.g. to carry it to an
# air-gapped host, where `sfactory sources add FILE` imports it).
#
# Needs root (writes /etc/apt/sources.list.d and runs apt-get update) unless
# the tarball is already in the cache.
set -euo pipefail

die() { echo "seed-slurm-source: $*" >&2; exit 1; }
log() { echo "seed-slurm-source: $*" >&2; }

# version -> "debian-version sha256 orig-file top-dir"
declare -A KNOWN=(
  [24.11.5]="24.11.5-4+deb13u1 e1a5547edd212c38b5e3230a284133f777b32746551f094aaa81cc4af375e332 slurm-wlm_24.11.5.orig.tar.gz slurm-slurm-24-11-5-1"
)

INTO=""
CACHE="${SFACTORY_SEED_CACHE:-/var/cache/sfactory-seed}"
VERSION=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --into) [[ $# -ge 2 ]] || die "--into needs a directory"; INTO="$2"; shift 2 ;;
    --into=*) INTO="${1#--into=}"; shift ;;
    --cache) [[ $# -ge 2 ]] || die "--cache needs a directory"; CACHE="$2"; shift 2 ;;
    --cache=*) CACHE="${1#--cache=}"; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option: $1" ;;
    *) [[ -z "$VERSION" ]] || die "only one VERSION may be given"; VERSION="$1"; shift ;;
  esac
done
VERSION="${VERSION:-24.11.5}"
[[ -n "${KNOWN[$VERSION]:-}" ]] || die "no Debian source known for Slurm $VERSION (known: ${!KNOWN[*]})"
read -r DEBVER SHA256 ORIG TOPDIR <<<"${KNOWN[$VERSION]}"

sha_ok() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$SHA256" ]]; }

finish() {
  local f="$1"
  if [[ -n "$INTO" ]]; then
    mkdir -p "$INTO"
    if ! sha_ok "$INTO/$ORIG"; then
      cp -f "$f" "$INTO/$ORIG.part" && mv -f "$INTO/$ORIG.part" "$INTO/$ORIG"
    fi
    f="$(cd "$INTO" && pwd)/$ORIG"
  fi
  log "ok: $ORIG sha256 $SHA256 (top dir $TOPDIR)"
  echo "$f"
  exit 0
}

mkdir -p "$CACHE"
CACHED="$CACHE/$ORIG"
if sha_ok "$CACHED"; then
  log "cached: $CACHED"
  finish "$CACHED"
fi
rm -f "$CACHED"

[[ $(id -u) -eq 0 ]] || die "not cached yet; run as root to add the deb-src entry and download"

SRCLIST=/etc/apt/sources.list.d/sfactory-trixie-src.sources
if [[ ! -f "$SRCLIST" ]]; then
  log "adding $SRCLIST"
  cat >"$SRCLIST.tmp" <<'SRC'
# Added by sfactory scripts/seed-slurm-source.sh: Slurm sources from Debian trixie.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  mv -f "$SRCLIST.tmp" "$SRCLIST"
fi
[[ -f "$SRCLIST" ]] || die "expected $SRCLIST"

log "apt-get update"
apt-get update -q >&2 || die "apt-get update failed"

TMP="$(mktemp -d "$CACHE/.dl.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# 1) the ordinary way: apt-get source --download-only (may fail on the .dsc)
log "apt-get source --download-only slurm-wlm=$DEBVER"
( cd "$TMP" && apt-get source -q --download-only "slurm-wlm=$DEBVER" ) >&2 \
  || log "apt-get source failed (a missing .dsc is expected); falling back to the orig tarball URL"

# 2) fallback: the URL apt would use for the orig tarball
if ! sha_ok "$TMP/$ORIG"; then
  rm -f "$TMP/$ORIG"
  # shellcheck disable=SC2015  # either failing leaves URL empty, which the next line reports
  URL="$(cd "$TMP" && apt-get source -q --print-uris "slurm-wlm=$DEBVER" 2>/dev/null \
         | grep -o "'[^']*/$ORIG'" | tr -d "'" | head -n1 || true)"
  [[ -n "$URL" ]] || die "apt-get source --print-uris slurm-wlm=$DEBVER names no $ORIG"
  log "downloading $URL"
  if command -v curl >/dev/null; then
    curl -fsSL --retry 3 -o "$TMP/$ORIG" "$URL" || die "download failed: $URL"
  else
    wget -q -O "$TMP/$ORIG" "$URL" || die "download failed: $URL"
  fi
fi

GOT="$(sha256sum "$TMP/$ORIG" | cut -d' ' -f1)"
[[ "$GOT" == "$SHA256" ]] || die "$ORIG: sha256 mismatch: expected $SHA256, got $GOT"
mv -f "$TMP/$ORIG" "$CACHED"
finish "$CACHED"
