#!/usr/bin/env bash
# fetch resumes an interrupted download from its .part file and checks the
# digest; a corrupted .part is detected, removed, and a rerun succeeds.
source "$(dirname "$0")/lib.sh"
start_daemon
seed_hello
id=$(sf submit 24.11 --recipe hello --detach)
wait_state "$id" BUILD_STATE_SUCCEEDED
sf fetch "$id" -o "$TEST_TMP/ref" > /dev/null
name=$(basename "$(ls "$TEST_TMP/ref"/*-software.tar.zst)")
size=$(stat -c %s "$TEST_TMP/ref/$name")

# An interrupted download: the first half is in the .part file.
mkdir -p "$TEST_TMP/out"
head -c $((size / 2)) "$TEST_TMP/ref/$name" > "$TEST_TMP/out/$name.part"
sf fetch "$id" -o "$TEST_TMP/out" > "$TEST_TMP/resume.out" 2> "$TEST_TMP/resume.err"
cmp "$TEST_TMP/out/$name" "$TEST_TMP/ref/$name" || fail "resumed file differs"
[ ! -e "$TEST_TMP/out/$name.part" ] || fail ".part left behind"
grep -qi "resum" "$TEST_TMP/resume.err" || fail "fetch did not say it resumed"

# A .part holding other bytes: the digest check catches it and fetch starts
# over, ending with the right file.
mkdir -p "$TEST_TMP/bad"
head -c $((size / 2)) /dev/urandom > "$TEST_TMP/bad/$name.part"
sf fetch "$id" -o "$TEST_TMP/bad" > /dev/null 2>&1
cmp "$TEST_TMP/bad/$name" "$TEST_TMP/ref/$name" || fail "fetch over a foreign .part differs"
[ ! -e "$TEST_TMP/bad/$name.part" ] || fail ".part left behind"

# An artifact corrupted at rest on the daemon: the client refuses it (exit 7)
# and keeps nothing under the final name.
digest=$(sha256sum "$TEST_TMP/ref/$name" | cut -d' ' -f1)
stored="$STATE/artifacts/sha256/$digest"
[ -f "$stored" ] || fail "artifact not stored by digest at $stored"
chmod u+w "$stored"
printf 'X' | dd of="$stored" bs=1 seek=100 conv=notrunc status=none
mkdir -p "$TEST_TMP/corrupt"
expect_exit 7 sf fetch "$id" -o "$TEST_TMP/corrupt" --name "$name"
[ ! -e "$TEST_TMP/corrupt/$name" ] || fail "a corrupt artifact was kept under its final name"
log "ok"
