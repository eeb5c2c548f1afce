#!/usr/bin/env bash
# Runs shellcheck over every shell script of the repository: scripts/, .ci/run,
# tests/**/*.sh and the recipe phase scripts (templates/recipes/*/ and
# tests/recipes/*/). Exits non-zero on any finding; scripts/test.sh runs it
# in CI. A finding that is wrong is disabled on its line, with the reason.
#
# A phase script is checked as the daemon runs it: its {{ placeholders }}
# replaced by the example values of docs/RECIPES.md, under
# `bash -eo pipefail`, with the SF_* environment of docs/RECIPES.md (both
# stood in for by one added first line; the line numbers printed are the
# script's own).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
command -v shellcheck > /dev/null || { echo "shellcheck.sh: shellcheck not found (apt-get install shellcheck)" >&2; exit 1; }
# -x -P SCRIPTDIR: follow `# shellcheck source=lib.sh` next to the script.
opts=(--shell=bash --external-sources --source-path=SCRIPTDIR --format=gcc)

mapfile -t plain < <(git ls-files 'scripts/*.sh' '.ci/run' 'tests/*.sh' ':!:tests/recipes/*')
mapfile -t phases < <(git ls-files 'templates/recipes/*.sh' 'tests/recipes/*.sh')

sf_env="SF_BUILD_ID SF_VERSION SF_SERIES SF_RECIPE SF_VARIANTS SF_JOBS SF_SOURCES SF_SOURCE_FILE \
SF_SOURCE_TOPDIR SF_CCACHE_DIR SF_WORK SF_OUT SF_PREFIX SF_SOFTWARE_TARBALL SF_MODULE_TARBALL"

rc=0
shellcheck "${opts[@]}" "${plain[@]}" || rc=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "${phases[@]}"; do
  mkdir -p "$tmp/$(dirname "$f")"
  { echo "set -eo pipefail; export $sf_env"
    sed -e 's/{{ *version *}}/24.11.5/g' -e 's/{{ *series *}}/24.11/g' \
        -e 's/{{ *recipe *}}/native/g' -e 's/{{ *os *}}/debian-12/g' -e 's/{{ *arch *}}/x86_64/g' \
        -e 's/{{ *variants *}}/gpu minimal/g' -e 's/{{ *build_id *}}/b3k9x2m4q7/g' "$f"
  } > "$tmp/$f"
  if grep -q "{{" "$tmp/$f"; then
    echo "$f: a placeholder this check does not know; add it to scripts/shellcheck.sh" >&2
    rc=1
  fi
done
if ((${#phases[@]})); then
  # Map the rendered copies' paths and line numbers back to the sources.
  (cd "$tmp" && shellcheck "${opts[@]}" "${phases[@]}") > "$tmp/findings" || rc=1
  awk -F: -v OFS=: '{ $2 = $2 - 1; print }' "$tmp/findings"
fi
exit "$rc"
