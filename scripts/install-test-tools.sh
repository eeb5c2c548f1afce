#!/bin/bash
# The tools the test command needs beyond the build's (scripts/install-deps.sh),
# as root after `apt-get update`:
#  - clang and shellcheck, for the static checks of scripts/test.sh;
#  - Debian's Python grpcio and protobuf (for /usr/bin/python3) and openssl:
#    the integration tests call the API from a gRPC client the project did
#    not write, over TLS with certificates they make;
#  - bash-completion, zsh and fish: the completion test drives bash's
#    completion with the generated script and parses the zsh and fish ones;
#    man-db and groff-base: the man page test renders the generated pages;
#  - Debian's environment-modules (the Tcl `module` implementation), unpacked
#    into /opt/sfactory-test/environment-modules without installing it: as a
#    package it conflicts with lmod, which the test suite also needs. The
#    packaging unit tests load the Tcl modulefile with it;
#  - tmux, a real terminal for the --progress tty test;
#  - prometheus, for `promtool check metrics` over a scrape of sfactoryd.
# Idempotent: apt-get install again is a no-op, and the unpacking is skipped
# when the pinned version is already there.
set -euo pipefail

DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang shellcheck \
  python3-grpcio python3-protobuf openssl passwd util-linux \
  bash-completion zsh fish man-db groff-base
# tmux: the --progress tty test runs the client in a real terminal;
# prometheus: its promtool checks a scrape of the metrics endpoint.
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tmux prometheus

DEST=${SFACTORY_TEST_TOOLS:-/opt/sfactory-test}/environment-modules
STAMP="$DEST/.sfactory-version"

command -v tclsh >/dev/null || { echo "tclsh is required (apt-get install tcl)" >&2; exit 1; }

version=$(apt-cache policy environment-modules | awk '/Candidate:/ {print $2}')
if [[ -z "$version" || "$version" == "(none)" ]]; then
  echo "apt knows no environment-modules package; run apt-get update" >&2
  exit 1
fi
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$version" ]]; then
  echo "environment-modules $version already in $DEST"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"  # apt-get download runs as _apt
(cd "$tmp" && apt-get download "environment-modules=$version" >/dev/null)
rm -rf "$DEST.new"
mkdir -p "$DEST.new"
dpkg -x "$tmp"/environment-modules_*.deb "$DEST.new"
modulecmd=$(find "$DEST.new" -path '*/lib/*/modulecmd.tcl' -type f | head -n1)
[[ -n "$modulecmd" ]] || { echo "modulecmd.tcl not found in the package" >&2; exit 1; }
ln -sfn "${modulecmd#"$DEST.new/"}" "$DEST.new/modulecmd.tcl"
echo "$version" > "$DEST.new/.sfactory-version"
rm -rf "$DEST"
mv "$DEST.new" "$DEST"
echo "environment-modules $version unpacked in $DEST (run: tclsh $DEST/modulecmd.tcl bash ...)"
