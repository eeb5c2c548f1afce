#!/usr/bin/env bash
# sfactory install of real hello builds into a temp prefix and module dirs:
#  - --dry-run plans and changes nothing; install extracts, writes the Lmod
#    and Tcl module files and links <prefix>/<version>;
#  - real Lmod (and environment-modules for the Tcl file) loads the module
#    and hello runs from <prefix>/<version>-<digest12>;
#  - a second build of the same version (the recipe changed, so the digest
#    did) switches the link; the first dir stays and a shell that loaded the
#    module before keeps running from it;
#  - installing again is a no-op; a damaged file (exit 7), a build that
#    failed (exit 2) and a prefix the user may not write (exit 6) are refused.
source "$(dirname "$0")/lib.sh"

LMOD_INIT=/usr/share/lmod/lmod/init/bash
MODULECMD=${SFACTORY_TEST_TOOLS:-/opt/sfactory-test}/environment-modules/modulecmd.tcl
[ -r "$LMOD_INIT" ] || skip "Lmod is not installed (scripts/install-build-deps.sh installs lmod)"
[ -r "$MODULECMD" ] || skip "environment-modules is not unpacked at $MODULECMD (scripts/install-test-tools.sh)"
command -v tclsh > /dev/null || skip "tclsh is not installed (apt-get install tcl)"

# The recipe is a copy, so that changing it between the two builds gives a
# second digest of the same Slurm version.
mkdir -p "$TEST_TMP/recipes"
cp -r "$SFACTORY_SOURCE_DIR/tests/recipes/hello" "$TEST_TMP/recipes/hello"
write_config "recipe_dirs: [$SFACTORY_SOURCE_DIR/templates/recipes, $TEST_TMP/recipes]"
export XDG_CACHE_HOME="$TEST_TMP/cache"
mkdir -p "$TEST_TMP/home"
PREFIX="$TEST_TMP/apps/slurm"
LMOD_DIR="$TEST_TMP/modulefiles"
TCL_DIR="$TEST_TMP/tcl-modulefiles"
site=(--prefix "$PREFIX" --modules "$LMOD_DIR" --tcl-modules "$TCL_DIR")

# in_module_shell KIND VERSION SCRIPT [DIR]: a clean bash that loads
# slurm/VERSION from DIR (default: the KIND's module dir) with Lmod (lmod)
# or environment-modules (tcl), then runs SCRIPT.
in_module_shell() {
  local kind=$1 version=$2 script=$3 setup dir
  if [ "$kind" = lmod ]; then
    setup="source $LMOD_INIT"
    dir=${4:-$LMOD_DIR}
  else
    setup="module() { eval \"\$(tclsh $MODULECMD bash \"\$@\")\"; }"
    dir=${4:-$TCL_DIR}
  fi
  env -i PATH=/usr/bin:/bin HOME="$TEST_TMP/home" TERM=dumb bash --noprofile --norc -c \
    "$setup
module use $dir
module load slurm/$version || exit 9
$script"
}

start_daemon
seed_hello

id1=$(sf submit 24.11 --recipe hello --detach)
wait_state "$id1" BUILD_STATE_SUCCEEDED 120
version=$(sf status "$id1" --json | json_field spec.slurm_version)
digest1=$(sf status "$id1" --json | json_field digest)
dir1="$PREFIX/$version-${digest1:0:12}"

# A dry run says what it would do and creates nothing.
sf install "$id1" "${site[@]}" --dry-run > "$TEST_TMP/dry.out" || fail "install --dry-run exited $?"
grep -q "^  create $dir1\$" "$TEST_TMP/dry.out" || fail "the dry run lacks the create line: $(cat "$TEST_TMP/dry.out")"
grep -q "^  switch $PREFIX/$version -> $version-${digest1:0:12} (new)\$" "$TEST_TMP/dry.out" \
  || fail "the dry run lacks the switch line: $(cat "$TEST_TMP/dry.out")"
for made in "$PREFIX" "$LMOD_DIR" "$TCL_DIR"; do
  [ ! -e "$made" ] || fail "the dry run created $made"
done

sf install "$id1" "${site[@]}" --json > "$TEST_TMP/install1.json" || fail "install exited $?"
[ "$(json_field install_dir < "$TEST_TMP/install1.json")" = "$dir1" ] || fail "install_dir is not $dir1"
[ "$(json_field changed < "$TEST_TMP/install1.json")" = True ] || fail "the first install changed nothing"
[ "$(readlink "$PREFIX/$version")" = "$version-${digest1:0:12}" ] || fail "$PREFIX/$version -> $(readlink "$PREFIX/$version")"
[ -x "$dir1/bin/hello" ] || fail "$dir1 does not hold bin/hello"
[ ! -e "$dir1/software" ] || fail "$dir1 holds software/ instead of bin/ directly"

# Both module systems load it and hello runs from the install dir.
for kind in lmod tcl; do
  out=$(in_module_shell "$kind" "$version" "command -v hello; hello; echo \"\$SLURM_ROOT\"") \
    || fail "$kind: loading slurm/$version or running hello failed: $out"
  [ "$out" = "$dir1/bin/hello
hello from libhello
$dir1" ] || fail "$kind: the module does not run hello from $dir1: $out"
done

# A shell that loaded the module now, and runs hello after the switch below.
mkfifo "$TEST_TMP/go"
in_module_shell lmod "$version" "touch '$TEST_TMP/loaded'; read -r _ < '$TEST_TMP/go'; command -v hello; hello" \
  > "$TEST_TMP/old-shell.out" 2>&1 &
old_shell=$!
for _ in $(seq 1 100); do [ -e "$TEST_TMP/loaded" ] && break; sleep 0.1; done
[ -e "$TEST_TMP/loaded" ] || fail "the first shell did not load the module: $(cat "$TEST_TMP/old-shell.out")"

# A second build of the same version: the recipe changed, so the digest did.
stop_daemon
echo "# changed after the first build: a second digest of the same version" >> "$TEST_TMP/recipes/hello/install.sh"
start_daemon
id2=$(sf submit 24.11 --recipe hello --detach)
wait_state "$id2" BUILD_STATE_SUCCEEDED 120
digest2=$(sf status "$id2" --json | json_field digest)
[ "$digest2" != "$digest1" ] || fail "the changed recipe gave the same digest"
[ "$(sf status "$id2" --json | json_field spec.slurm_version)" = "$version" ] || fail "the second build is not $version"
dir2="$PREFIX/$version-${digest2:0:12}"

sf install "$id2" "${site[@]}" > "$TEST_TMP/install2.out" || fail "the second install exited $?"
grep -q "^switched $PREFIX/$version -> $version-${digest2:0:12} (was $version-${digest1:0:12})\$" "$TEST_TMP/install2.out" \
  || fail "the second install does not report the switch: $(cat "$TEST_TMP/install2.out")"
[ "$(readlink "$PREFIX/$version")" = "$version-${digest2:0:12}" ] || fail "the link was not switched"
[ "$(env -u LD_LIBRARY_PATH "$dir1/bin/hello")" = "hello from libhello" ] || fail "the first install no longer runs"
for kind in lmod tcl; do
  out=$(in_module_shell "$kind" "$version" 'command -v hello') || fail "$kind: loading after the switch failed"
  [ "$out" = "$dir2/bin/hello" ] || fail "$kind: a new shell gets $out, not $dir2/bin/hello"
done
echo go > "$TEST_TMP/go"
wait "$old_shell" || fail "the shell that loaded the module before the switch failed: $(cat "$TEST_TMP/old-shell.out")"
[ "$(cat "$TEST_TMP/old-shell.out")" = "$dir1/bin/hello
hello from libhello" ] || fail "the earlier shell did not keep running from $dir1: $(cat "$TEST_TMP/old-shell.out")"

# Installing again changes nothing and says so.
before=$(find "$PREFIX" "$LMOD_DIR" "$TCL_DIR" -printf '%p %y %T@ %l\n' | sort)
sf install "$id2" "${site[@]}" > "$TEST_TMP/again.out" || fail "a reinstall exited $?"
grep -q "is already installed" "$TEST_TMP/again.out" || fail "a reinstall does not say it is a no-op"
[ "$(find "$PREFIX" "$LMOD_DIR" "$TCL_DIR" -printf '%p %y %T@ %l\n' | sort)" = "$before" ] || fail "a reinstall changed files"

# A damaged file from --from is refused before anything changes.
sf fetch "$id1" -o "$TEST_TMP/files1" > /dev/null
cp -r "$TEST_TMP/files1" "$TEST_TMP/damaged"
soft=$(find "$TEST_TMP/damaged" -name '*-software.tar.zst')
printf 'X' | dd of="$soft" bs=1 seek=100 conv=notrunc status=none
expect_exit 7 sf install "$id1" --from "$TEST_TMP/damaged" "${site[@]}"
grep -q "SHA256SUMS says" "$TEST_TMP/last.err" || fail "the refusal does not say why: $(cat "$TEST_TMP/last.err")"
[ "$(find "$PREFIX" "$LMOD_DIR" "$TCL_DIR" -printf '%p %y %T@ %l\n' | sort)" = "$before" ] || fail "a refused install changed files"

# Going back to the first build with --from needs no daemon and no extraction.
stop_daemon
sf install "$id1" --from "$TEST_TMP/files1" "${site[@]}" > "$TEST_TMP/back.out" || fail "install --from exited $?"
grep -q "^kept    $dir1 (already there)\$" "$TEST_TMP/back.out" || fail "install --from re-extracted: $(cat "$TEST_TMP/back.out")"
[ "$(readlink "$PREFIX/$version")" = "$version-${digest1:0:12}" ] || fail "the link was not switched back"
[ -d "$dir2" ] || fail "switching back removed $dir2"
start_daemon

# One tree for both: Lmod prefers the .lua file, environment-modules skips
# files without the #%Module cookie (docs/USER_GUIDE.md says so).
sf install "$id2" --prefix "$PREFIX" --modules "$TEST_TMP/both" --tcl-modules "$TEST_TMP/both" > /dev/null \
  || fail "install into one module tree for both exited $?"
for kind in lmod tcl; do
  out=$(in_module_shell "$kind" "$version" 'command -v hello' "$TEST_TMP/both") || fail "$kind: loading from one tree failed"
  [ "$out" = "$dir2/bin/hello" ] || fail "$kind: one tree for both gives $out, not $dir2/bin/hello"
done

# A build that failed has nothing to install.
idf=$(sf submit 24.11 --recipe hello --variant fail --detach)
wait_state "$idf" BUILD_STATE_FAILED 120
expect_exit 2 sf install "$idf" "${site[@]}"
grep -q "failed, it has nothing to install" "$TEST_TMP/last.err" || fail "no reason for the failed build: $(cat "$TEST_TMP/last.err")"

# A prefix this user may not write (root may write anywhere: use nobody).
if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null && id nobody > /dev/null 2>&1; then
  chmod 0711 "$TEST_TMP"
  mkdir -m 0755 "$TEST_TMP/bin" "$TEST_TMP/nobody" "$TEST_TMP/root-apps"
  cp "$SFACTORY" "$TEST_TMP/bin/sfactory"
  chmod -R a+rX "$TEST_TMP/files1"
  chown nobody "$TEST_TMP/nobody"
  rc=0
  setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
    env -i PATH=/usr/bin:/bin HOME="$TEST_TMP/nobody" TMPDIR="$TEST_TMP/nobody" \
    "$TEST_TMP/bin/sfactory" install "$id1" --from "$TEST_TMP/files1" --prefix "$TEST_TMP/root-apps" \
    --modules "$TEST_TMP/nobody/modules" > "$TEST_TMP/nobody.out" 2>&1 || rc=$?
  [ "$rc" -eq 6 ] || fail "nobody's install into a root-owned prefix exited $rc, not 6: $(cat "$TEST_TMP/nobody.out")"
  grep -q "choose another --prefix" "$TEST_TMP/nobody.out" || fail "the refusal does not say what to do: $(cat "$TEST_TMP/nobody.out")"
else
  skip "the unwritable-prefix check needs root, setpriv and the user nobody (everything else passed)"
fi
log "ok"
