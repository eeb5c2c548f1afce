#!/usr/bin/env bash
# Watchers resume from any byte offset without loss or duplication, while
# the build is still writing and after it ended; many followers of one
# build all receive every byte.
source "$(dirname "$0")/lib.sh"
start_daemon
seed_hello
id=$(sf submit 24.11 --recipe hello --variant slow --detach)
wait_state "$id" BUILD_STATE_RUNNING
followers=()
for n in $(seq 1 10); do
  sf logs "$id" --follow > "$TEST_TMP/f$n.out" 2>/dev/null &
  followers+=($!)
done
sleep 3
# Resume mid-build from the current size: prefix + suffix = whole log.
sf logs "$id" > "$TEST_TMP/prefix.out"
off=$(stat -c %s "$TEST_TMP/prefix.out")
sf logs "$id" --follow --offset "$off" > "$TEST_TMP/suffix.out" 2>/dev/null
wait "${followers[@]}"  # not a bare wait: the daemon is a background job too
sf logs "$id" > "$TEST_TMP/full.out"
cat "$TEST_TMP/prefix.out" "$TEST_TMP/suffix.out" | cmp - "$TEST_TMP/full.out" \
  || fail "prefix + resumed suffix differs from the full log"
for n in $(seq 1 10); do
  cmp "$TEST_TMP/f$n.out" "$TEST_TMP/full.out" || fail "follower $n did not get every byte"
done
# Arbitrary offsets after the end.
size=$(stat -c %s "$TEST_TMP/full.out")
for off in 0 1 100 $((size / 2)) $((size - 1)) "$size"; do
  sf logs "$id" --offset "$off" | cmp - <(tail -c +$((off + 1)) "$TEST_TMP/full.out") \
    || fail "logs --offset $off is not the suffix"
done
grep -q "compiling step 60 of 60" "$TEST_TMP/full.out" || fail "log incomplete"
log "ok"
