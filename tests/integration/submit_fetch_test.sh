#!/usr/bin/env bash
# submit follows the log to the end and exits 0; fetch gets every artifact,
# checked by sha256; the package runs from a new prefix; a resubmit reuses
# the finished build; --force builds again; a retried request_id replays.
source "$(dirname "$0")/lib.sh"
start_daemon
seed_hello

sf submit 24.11 --recipe hello > "$TEST_TMP/submit.out" 2> "$TEST_TMP/submit.err" || fail "submit exited $?"
id=$(head -n1 "$TEST_TMP/submit.out")
grep -q "==> \[3/10\] unpack" "$TEST_TMP/submit.out" || fail "the followed log lacks the unpack phase header"
grep -q "CHECK run from" "$TEST_TMP/submit.out" || fail "the followed log lacks the verify output"
grep -q "succeeded" "$TEST_TMP/submit.out" || fail "the followed log lacks the final line"
[ "$(state_of "$id")" = BUILD_STATE_SUCCEEDED ] || fail "state is not SUCCEEDED"

# The followed log equals the stored log byte for byte.
sf logs "$id" > "$TEST_TMP/logs.out"
tail -n +2 "$TEST_TMP/submit.out" | cmp - "$TEST_TMP/logs.out" || fail "followed log differs from sf logs"

sf fetch "$id" -o "$TEST_TMP/out" > /dev/null
(cd "$TEST_TMP/out" && sha256sum -c SHA256SUMS > /dev/null) || fail "SHA256SUMS does not verify"
soft=$(ls "$TEST_TMP/out"/*-software.tar.zst)
mkdir -p "$TEST_TMP/prefix"
tar -xf "$soft" -C "$TEST_TMP/prefix"
[ "$(env -u LD_LIBRARY_PATH "$TEST_TMP/prefix/software/bin/hello")" = "hello from libhello" ] \
  || fail "the packaged program does not run from a new prefix"

# Fetching again finds the files present and rewrites nothing.
before=$(stat -c %Y "$soft")
sf fetch "$id" -o "$TEST_TMP/out" > /dev/null
[ "$(stat -c %Y "$soft")" = "$before" ] || fail "a second fetch rewrote a complete file"

again=$(sf submit 24.11 --recipe hello --detach)
[ "$again" = "$id" ] || fail "an identical submit made a new build ($again) instead of reusing $id"
forced=$(sf submit 24.11.5 --recipe hello --force --detach)
[ "$forced" != "$id" ] || fail "--force returned the old build"
r1=$(sf submit 24.11 --recipe hello --force --request-id retry-1 --detach)
r2=$(sf submit 24.11 --recipe hello --force --request-id retry-1 --detach)
[ "$r1" = "$r2" ] || fail "a retried request_id made a second build ($r1, $r2)"
wait_state "$forced" BUILD_STATE_SUCCEEDED
wait_state "$r1" BUILD_STATE_SUCCEEDED
[ "$(sf list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["builds"]))')" = 3 ] \
  || fail "list does not show exactly the 3 builds made"
# Where the disk goes: the artifacts of the 3 builds (4 files each, some
# shared by digest) and the one source are counted.
sf cache usage --json > "$TEST_TMP/usage.json"
python3 - "$TEST_TMP/usage.json" <<'PY' || fail "cache usage is wrong: $(cat "$TEST_TMP/usage.json")"
import json, sys
u = json.load(open(sys.argv[1]))
areas = {a["name"]: a for a in u["areas"]}
assert int(areas["artifacts"]["files"]) >= 4 and int(areas["artifacts"]["bytes"]) > 0, areas["artifacts"]
assert int(areas["sources"]["files"]) == 1, areas["sources"]
assert int(areas["logs"]["files"]) == 3, areas["logs"]
assert int(u["state_fs_size"]) >= int(u["state_fs_free"]) > 0, u
assert int(u["min_free_space"]) == 64 << 20, u
PY
sf cache usage | grep -q "^artifacts " || fail "the cache usage table lacks the artifacts row"
log "ok"
