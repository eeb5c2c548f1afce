#!/usr/bin/env bash
# Concurrent submits are decided one batch at a time (group commit): equal
# specs submitted together make one build and the rest join it, a request_id
# sent several times at once makes one build, and distinct specs each make
# their own. The queue is paused, so every build stays QUEUED (joinable).
source "$(dirname "$0")/lib.sh"
write_config "queue_paused: true"
start_daemon
seed_hello

pids=()
submit_bg() {  # submit_bg OUTFILE ARGS...
  local out=$1; shift
  (sf submit "$@" --detach > "$out" 2> "$out.err" || echo "exit $?" >> "$out.err") &
  pids+=($!)
}
for i in $(seq 1 12); do
  submit_bg "$TEST_TMP/a.$i.id" 24.11 --recipe hello
  submit_bg "$TEST_TMP/b.$i.id" 24.11 --recipe hello --variant slow
  submit_bg "$TEST_TMP/r.$i.id" 24.11 --recipe hello --variant big --force --request-id once
done
i=0
for v in 22.05 23.02 23.11 24.11.6 25.05 25.05.8; do  # distinct specs: a build each
  i=$((i + 1))
  submit_bg "$TEST_TMP/d.$i.id" "$v" --recipe hello --variant fail
done
wait "${pids[@]}"  # not the daemon
grep -l "^exit" "$TEST_TMP"/*.err && fail "a submit failed: $(grep -h . "$TEST_TMP"/*.err | grep -v "^joined\\|^queued\\|^replayed" | head -5)"

distinct() { cat "$TEST_TMP/$1".*.id | sort -u; }
[ "$(distinct a | wc -l)" = 1 ] || fail "12 equal submits made $(distinct a | wc -l) builds: $(distinct a)"
[ "$(distinct b | wc -l)" = 1 ] || fail "12 equal submits (variant slow) made $(distinct b | wc -l) builds"
[ "$(distinct r | wc -l)" = 1 ] || fail "one request_id sent 12 times made $(distinct r | wc -l) builds"
[ "$(distinct d | wc -l)" = 5 ] || fail "5 distinct specs (25.05 twice) made $(distinct d | wc -l) builds"
[ "$(distinct a)" != "$(distinct b)" ] || fail "different variants share a build"
[ "$(distinct r)" != "$(distinct a)" ] || fail "--force joined the existing build"

n=$(sf list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["builds"]))')
[ "$n" = 8 ] || fail "the store holds $n builds, expected 8"
for id in $(distinct a) $(distinct b) $(distinct r) $(distinct d); do
  [ "$(state_of "$id")" = BUILD_STATE_QUEUED ] || fail "$id is $(state_of "$id"), not QUEUED"
done

# They survive a restart (they were committed).
stop_daemon
start_daemon
n=$(sf list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["builds"]))')
[ "$n" = 8 ] || fail "after a restart the store holds $n builds, expected 8"
log "ok"
