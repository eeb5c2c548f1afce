#!/usr/bin/env bash
# seed-slurm-source.sh [--into DIR] [--cache DIR] [VERSION]
# seed-slurm-source.sh --from DIR [--catalog FILE] [--into DIR] VERSION...
#
# Prints the path of a Slurm source tarball the catalog knows, checked
# against the catalog's sha256, ready for `sfactory sources add PATH`.
#
# --from DIR: take it from a directory of tarballs (e.g. an offline kit of
# GitHub tag archives, slurm-24-11-7-1.tar.gz, or Debian orig tarballs).
# VERSION is a release (24.11.7) or a series (24.11: its pinned release);
# several may be given, one path is printed per version. The digests come
# from the catalog (--catalog, default templates/catalog.yaml beside this
# script, else /usr/share/sfactory/catalog.yaml), never from DIR.
#
# Without --from: fetch it from Debian's source package `slurm-wlm` (suite
# trixie). Only releases listed in the table below are known; the default
# is 24.11.5. The tarball is kept in a cache (default
# /var/cache/sfactory-seed, override with --cache or SFACTORY_SEED_CACHE)
# so reruns do not download again. Needs root (writes
# /etc/apt/sources.list.d and runs apt-get update) unless already cached.
#
# With --into DIR a copy is also placed in DIR (e.g. to carry it to an
# air-gapped host, where `sfactory sources add FILE` imports it).
set -euo pipefail

die() { echo "seed-slurm-source: $*" >&2; exit 1; }
log() { echo "seed-slurm-source: $*" >&2; }

# version -> "debian-version sha256 orig-file top-dir"
declare -A KNOWN=(
  [24.11.5]="24.11.5-4+deb13u1 e1a5547edd212c38b5e3230a284133f777b32746551f094aaa81cc4af375e332 slurm-wlm_24.11.5.orig.tar.gz slurm-slurm-24-11-5-1"
)

INTO=""
CACHE="${SFACTORY_SEED_CACHE:-/var/cache/sfactory-seed}"
FROM=""
CATALOG=""
VERSIONS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --into) [[ $# -ge 2 ]] || die "--into needs a directory"; INTO="$2"; shift 2 ;;
    --into=*) INTO="${1#--into=}"; shift ;;
    --cache) [[ $# -ge 2 ]] || die "--cache needs a directory"; CACHE="$2"; shift 2 ;;
    --cache=*) CACHE="${1#--cache=}"; shift ;;
    --from) [[ $# -ge 2 ]] || die "--from needs a directory"; FROM="$2"; shift 2 ;;
    --from=*) FROM="${1#--from=}"; shift ;;
    --catalog) [[ $# -ge 2 ]] || die "--catalog needs a file"; CATALOG="$2"; shift 2 ;;
    --catalog=*) CATALOG="${1#--catalog=}"; shift ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option: $1" ;;
    *) VERSIONS+=("$1"); shift ;;
  esac
done

sha_ok() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }  # sha_ok FILE SHA256

copy_into() {  # copy_into FILE NAME SHA256: prints the path to use
  local f="$1" name="$2" sha="$3"
  if [[ -n "$INTO" ]]; then
    mkdir -p "$INTO"
    if ! sha_ok "$INTO/$name" "$sha"; then
      cp -f "$f" "$INTO/$name.part" && mv -f "$INTO/$name.part" "$INTO/$name"
    fi
    f="$(cd "$INTO" && pwd)/$name"
  fi
  echo "$f"
}

if [[ -n "$FROM" ]]; then
  [[ -d "$FROM" ]] || die "--from $FROM is not a directory"
  [[ ${#VERSIONS[@]} -gt 0 ]] || die "--from needs at least one VERSION (e.g. 24.11.7 or 26.05)"
  if [[ -z "$CATALOG" ]]; then
    here="$(cd "$(dirname "$0")" && pwd)"
    for c in "$here/../templates/catalog.yaml" /usr/share/sfactory/catalog.yaml; do
      [[ -f "$c" ]] && { CATALOG="$c"; break; }
    done
  fi
  [[ -f "$CATALOG" ]] || die "no catalog found; pass --catalog FILE"
  for v in "${VERSIONS[@]}"; do
    [[ "$v" =~ ^[0-9]{2}\.[0-9]{2}(\.[0-9]{1,3})?$ ]] || die "'$v' is not a version like 24.11 or 24.11.7"
    release="$v"
    if [[ "$v" =~ ^[0-9]{2}\.[0-9]{2}$ ]]; then
      # A series: its pinned release (the line after the series key).
      release="$(awk -v key="\"$v\":" '$1 == key { s = 1; next } s && $1 == "pinned:" { gsub(/"/, "", $2); print $2; exit } s && /^  "/ { exit }' "$CATALOG")"
      [[ -n "$release" ]] || die "series $v is not in $CATALOG"
    fi
    # "name sha256" of each source of the release, in the catalog's order.
    sources="$(awk -v key="\"$release\":" '
      $1 == key { r = 1; next }
      r && /^ *"[0-9]/ { exit }
      r && $1 == "-" && $2 == "name:" { name = $3 }
      r && $1 == "sha256:" { print name, $2 }' "$CATALOG")"
    [[ -n "$sources" ]] || die "release $release is not in $CATALOG"
    found=""
    while read -r name sha; do
      [[ -f "$FROM/$name" ]] || continue
      got="$(sha256sum "$FROM/$name" | cut -d' ' -f1)"
      [[ "$got" == "$sha" ]] || die "$FROM/$name: sha256 $got is not the catalog's $sha (a corrupt or altered copy; replace it)"
      log "ok: $name sha256 $sha (Slurm $release, from $FROM)"
      copy_into "$(cd "$FROM" && pwd)/$name" "$name" "$sha"
      found=yes
      break
    done <<<"$sources"
    [[ -n "$found" ]] || die "$FROM has none of the source files of Slurm $release ($(cut -d' ' -f1 <<<"$sources" | tr '\n' ' '))"
  done
  exit 0
fi

[[ ${#VERSIONS[@]} -le 1 ]] || die "only one VERSION may be given without --from"
VERSION="${VERSIONS[0]:-24.11.5}"
[[ -n "${KNOWN[$VERSION]:-}" ]] || die "no Debian source known for Slurm $VERSION (known: ${!KNOWN[*]}); for other releases use --from DIR with a directory of tarballs"
read -r DEBVER SHA256 ORIG TOPDIR <<<"${KNOWN[$VERSION]}"

finish() {
  log "ok: $ORIG sha256 $SHA256 (top dir $TOPDIR)"
  copy_into "$1" "$ORIG" "$SHA256"
  exit 0
}

mkdir -p "$CACHE"
CACHED="$CACHE/$ORIG"
if sha_ok "$CACHED" "$SHA256"; then
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
if ! sha_ok "$TMP/$ORIG" "$SHA256"; then
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
