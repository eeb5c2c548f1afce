#!/usr/bin/env bash
# A full disk: with less than min_free_space free, builds stay queued and
# `sfactory info` says why; a submit that cannot be stored fails with exit 8
# and says what to do; nothing stored is lost; with room again the queued
# build runs. The state dir is on a small tmpfs (needs root; skipped, exit
# 77, without).
source "$(dirname "$0")/lib.sh"
mnt=$(mktemp -d /tmp/sf-it-disk.XXXXXX)
if ! mount -t tmpfs -o size=48m tmpfs "$mnt" 2>/dev/null; then
  rmdir "$mnt"
  skip "cannot mount a tmpfs here (needs root)"
fi
trap 'on_exit; umount -l "$mnt"; rmdir "$mnt"' EXIT

write_config "state_dir: $mnt/state" "min_free_space: 16MiB"
start_daemon
seed_hello
good=$(sf submit 24.11 --recipe hello --detach)
wait_state "$good" BUILD_STATE_SUCCEEDED

# Below min_free_space: accepted, but not started.
avail=$(df --output=avail -B1 "$mnt" | tail -n1)
fallocate -l $((avail - 8 * 1024 * 1024)) "$mnt/filler"
waiting=$(sf submit 24.11.6 --recipe hello --detach 2> "$TEST_TMP/submit.err")
grep -q "builds are not starting now: .*min_free_space" "$TEST_TMP/submit.err" \
  || fail "submit does not say why the build waits: $(cat "$TEST_TMP/submit.err")"
sleep 3
[ "$(state_of "$waiting")" = BUILD_STATE_QUEUED ] || fail "a build started with 8 MiB free (min 16 MiB)"
sf info > "$TEST_TMP/info.out"
grep -q "disk problem:.*less than min_free_space" "$TEST_TMP/info.out" \
  || fail "sfactory info does not name the disk problem: $(cat "$TEST_TMP/info.out")"

# Full: a new build cannot be stored.
cat /dev/zero > "$mnt/filler2" 2>/dev/null || true
expect_exit 8 sf submit 23.11 --recipe hello --detach
grep -q "free space" "$TEST_TMP/last.err" || fail "the disk-full error does not say what to do: $(cat "$TEST_TMP/last.err")"

# Nothing stored was lost: both builds are there, the finished one fetches.
[ "$(state_of "$good")" = BUILD_STATE_SUCCEEDED ] || fail "the finished build changed state"
[ "$(state_of "$waiting")" = BUILD_STATE_QUEUED ] || fail "the queued build changed state"
sf fetch "$good" -o "$TEST_TMP/out" > /dev/null
(cd "$TEST_TMP/out" && sha256sum -c SHA256SUMS > /dev/null) || fail "the finished build's files do not verify"

# Room again: the queued build runs.
rm -f "$mnt/filler" "$mnt/filler2"
wait_state "$waiting" BUILD_STATE_SUCCEEDED
log "ok"
