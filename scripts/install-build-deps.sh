#!/usr/bin/env bash
# install-build-deps.sh [RECIPE_DIR]
#
# Installs the Debian packages a recipe lists under `packages:` in its
# recipe.yaml (default: templates/recipes/native) on this host, so that the
# `local` provider can build and verify natively. Needs root and apt.
# Set SF_DRY_RUN=1 to print the package list without installing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
recipe_dir="${1:-$here/../templates/recipes/native}"
yaml="$recipe_dir/recipe.yaml"
[[ -f "$yaml" ]] || { echo "install-build-deps: no $yaml" >&2; exit 1; }

# The `packages:` key as a flow list ([a, b]) or a block list (- a).
# Plain sed/awk so this runs before python3 or PyYAML are installed.
mapfile -t pkgs < <(awk '
  function emit(s) { gsub(/["'"'"',\[\] \t]/, "", s); if (s != "") print s }
  /^packages:[ \t]*\[/ {
    s = $0; sub(/^packages:[ \t]*\[/, "", s); sub(/\].*$/, "", s)
    n = split(s, a, ","); for (i = 1; i <= n; i++) emit(a[i]); exit
  }
  /^packages:[ \t]*(#.*)?$/ { inlist = 1; next }
  inlist && /^[ \t]*#/ { next }
  inlist && /^[ \t]*$/ { next }
  inlist && /^[ \t]+-[ \t]/ { s = $0; sub(/^[ \t]+-[ \t]+/, "", s); sub(/[ \t]*#.*$/, "", s); emit(s); next }
  inlist { exit }
' "$yaml")

[[ ${#pkgs[@]} -gt 0 ]] || { echo "install-build-deps: no packages: list in $yaml" >&2; exit 1; }
for p in "${pkgs[@]}"; do
  [[ "$p" =~ ^[a-z0-9][a-z0-9.+-]*$ ]] || { echo "install-build-deps: bad package name '$p'" >&2; exit 1; }
done
echo "install-build-deps: ${pkgs[*]}"
[[ "${SF_DRY_RUN:-0}" == 1 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "install-build-deps: run as root (apt-get install)" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Update the lists only when a package is unknown to the current ones.
if ! apt-cache show "${pkgs[@]}" >/dev/null 2>&1; then
  apt-get update -q
fi
apt-get install -y -q --no-install-recommends "${pkgs[@]}"
