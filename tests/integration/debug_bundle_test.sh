#!/usr/bin/env bash
# A failed build's debug bundle, end to end, with real uids created here:
#  - alice's hello build with the fail variant fails; `sfactory debug` as
#    alice downloads the bundle (through FILE.part, renamed after the
#    sha256 check) and it holds the failing phase's script, the log, the
#    config.log the recipe declares, the env with the phase's secret
#    redacted, and the daemon's effective config with a secret redacted;
#  - bob (another member, not an admin) may not download it, neither with
#    the CLI nor with Python grpcio; root (admin) may;
#  - a Python grpcio client gets the same bytes through GetDebugBundle;
#  - a running build is refused (exit 2), a succeeded one has none (exit 5).
source "$(dirname "$0")/lib.sh"

command -v tar > /dev/null || skip "tar is not installed"
# shellcheck source=other_uids.sh
source "$(dirname "$0")/other_uids.sh"
suffix=$$
group="sfdg$suffix"
alice="sfda$suffix"
bob="sfdb$suffix"
test_users "$group" "$alice" "$bob"

# A secret in the config (the LXD client key, unused by the local
# provider) that the bundle's config.txt must not show.
write_config "socket_group: $group" "lxd: {client_key: /etc/sfdg-$suffix-key.pem}"
start_daemon
seed_hello

id=$(asf "$alice" submit 24.11 --recipe hello --variant fail --detach) || fail "submit as $alice"
wait_state "$id" BUILD_STATE_FAILED 60
[ "$(sf status "$id" --json | json_field debug_bundle.kind)" = debug ] ||
  fail "the failed build lists no debug bundle: $(sf status "$id" --json)"
[ -f "$STATE/logs/$id.debug.tar.gz" ] || fail "the bundle is not beside the log in $STATE/logs"
[ -d "$STATE/logs/$id.debug" ] || fail "the debug tree is not beside the log in $STATE/logs"

# Alice downloads it; the command prints the path and leaves no .part.
home_a="$TEST_TMP/home-$alice"
mkdir -p "$home_a" && chown "$alice" "$home_a"
out=$(asf "$alice" debug "$id" -o "$home_a/bundle.tar.gz") || fail "sfactory debug as $alice"
[ "$out" = "$home_a/bundle.tar.gz" ] || fail "debug printed '$out', not the path"
[ -f "$home_a/bundle.tar.gz" ] || fail "no bundle at $home_a/bundle.tar.gz"
[ ! -e "$home_a/bundle.tar.gz.part" ] || fail "a .part was left beside the bundle"
[ "$(sha256sum < "$home_a/bundle.tar.gz" | cut -d' ' -f1)" = "$(sf status "$id" --json | json_field debug_bundle.sha256)" ] ||
  fail "the downloaded bundle's sha256 is not the one the build lists"

x="$TEST_TMP/extracted"
mkdir "$x"
tar -xzf "$home_a/bundle.tar.gz" -C "$x" || fail "the bundle does not extract"
top="$x/$id-debug"
[ -d "$top" ] || fail "no top directory $id-debug in the bundle: $(ls "$x")"
grep -q "the fail variant stops here" "$top/scripts/02-compile.sh" || fail "the failing phase's script is missing"
grep -q "==> build $id failed: phase compile exited with code 3" "$top/build.log" || fail "build.log lacks the end"
cmp -s "$top/build.log" "$STATE/logs/$id.log" || fail "build.log is not the whole log"
grep -q "configure: error: the fail variant stops here" "$top/files/src/hello-1.0/config.log" ||
  fail "the recipe's debug_files (config.log) is missing: $(cd "$top" && find . -type f)"
grep -q "error: the fail variant stops here" "$top/failed-step.log" || fail "failed-step.log lacks the phase's output"
grep -qx "HELLO_API_TOKEN=<redacted>" "$top/env-at-exit.txt" || fail "the secret is not shown redacted: $(cat "$top/env-at-exit.txt")"
grep -qx "SF_VARIANTS=fail" "$top/env-at-exit.txt" || fail "env-at-exit.txt lacks the phase's variables"
if grep -rq "hello-secret-$id" "$top"; then fail "the secret's value is in the bundle: $(grep -rl "hello-secret-$id" "$top")"; fi
grep -q "^state_dir: $STATE " "$top/config.txt" || fail "config.txt is not the effective config: $(head -3 "$top/config.txt")"
grep -q "client_key: <redacted>" "$top/config.txt" || fail "config.txt does not redact lxd.client_key"
if grep -q "sfdg-$suffix-key.pem" "$top/config.txt"; then fail "config.txt shows the key's path"; fi
grep -q "local host" "$top/image.txt" || fail "image.txt does not say local host"
grep -q "\"id\": \"$id\"" "$top/build.json" || fail "build.json is not the build"

# Bob may not: not with the CLI, not with grpcio. Nothing is left in his dir.
home_b="$TEST_TMP/home-$bob"
mkdir -p "$home_b" && chown "$bob" "$home_b"
expect_exit 6 asf "$bob" debug "$id" -o "$home_b/b.tar.gz"
grep -q "owner\|admin" "$TEST_TMP/last.err" || fail "refusal does not say who may: $(cat "$TEST_TMP/last.err")"
if [ -e "$home_b/b.tar.gz" ] || [ -e "$home_b/b.tar.gz.part" ]; then
  fail "a refused download left files: $(ls -A "$home_b")"
fi
out=$(probe "$bob" debug-bundle "$id" "$home_b/p.tar.gz") && fail "grpcio as $bob got the bundle: $out"
[[ "$out" == "ERROR PERMISSION_DENIED"* ]] || fail "grpcio as $bob: $out"

# A Python grpcio client (as alice) gets the same bytes.
out=$(probe "$alice" debug-bundle "$id" "$home_a/probe.tar.gz") || fail "grpcio as $alice: $out"
[[ "$out" == "OK $id-debug.tar.gz "* ]] || fail "grpcio as $alice: $out"
cmp -s "$home_a/probe.tar.gz" "$home_a/bundle.tar.gz" || fail "grpcio and the CLI got different bytes"

# An admin may; a second download finds the file complete.
sf debug "$id" -o "$TEST_TMP/root.tar.gz" > /dev/null || fail "root could not download alice's bundle"
sf debug "$id" -o "$TEST_TMP/root.tar.gz" > /dev/null 2> "$TEST_TMP/again.err" || fail "second download"
grep -q "already present" "$TEST_TMP/again.err" || fail "a second download rewrote the bundle: $(cat "$TEST_TMP/again.err")"

# A running build has none yet; a succeeded one keeps none.
slow=$(sf submit 24.11 --recipe hello --variant slow --detach)
wait_state "$slow" BUILD_STATE_RUNNING 60
expect_exit 2 sf debug "$slow" -o "$TEST_TMP/slow.tar.gz"
grep -q "is running" "$TEST_TMP/last.err" || fail "running build: $(cat "$TEST_TMP/last.err")"
sf cancel "$slow" > /dev/null
ok=$(sf submit 24.11 --recipe hello --no-verify --detach)
wait_state "$ok" BUILD_STATE_SUCCEEDED 120
expect_exit 5 sf debug "$ok" -o "$TEST_TMP/ok.tar.gz"
grep -q "only failed builds keep one" "$TEST_TMP/last.err" || fail "succeeded build: $(cat "$TEST_TMP/last.err")"
if [ -e "$TEST_TMP/ok.tar.gz" ] || [ -e "$TEST_TMP/ok.tar.gz.part" ]; then
  fail "a refused download left a file"
fi
log "passed"
