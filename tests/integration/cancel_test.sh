#!/usr/bin/env bash
# cancel works for queued and running builds; a running build's processes
# are stopped and its instance removed; a follower exits with the
# cancelled code (4); a failing build exits 1 and says which phase failed.
source "$(dirname "$0")/lib.sh"
write_config "max_parallel_builds: 1"
start_daemon
seed_hello

running=$(sf submit 24.11 --recipe hello --variant slow --detach)
queued=$(sf submit 24.11.6 --recipe hello --variant slow --detach)
wait_state "$running" BUILD_STATE_RUNNING
[ "$(state_of "$queued")" = BUILD_STATE_QUEUED ] || fail "second build is not queued behind the first"
[ "$(sf status "$queued" --json | json_field queue_position)" = 1 ] || fail "queue position is not 1"

sf cancel "$queued" --reason "not needed" > /dev/null
[ "$(state_of "$queued")" = BUILD_STATE_CANCELLED ] || fail "queued build not cancelled"

# Follow the running build, then cancel it from elsewhere.
( rc=0; sf logs "$running" --follow > "$TEST_TMP/follow.out" 2>&1 || rc=$?; echo $rc > "$TEST_TMP/follow.rc" ) &
follower=$!
for _ in $(seq 1 50); do grep -q "compiling step 2 " "$TEST_TMP/follow.out" 2>/dev/null && break; sleep 0.2; done
grep -q "compiling step 2 " "$TEST_TMP/follow.out" || fail "no live compile lines reached the follower"
pgrep -f "$STATE/work/local/$running" > /dev/null || fail "no phase process found for the running build"
sf cancel "$running" --reason "wrong branch" > /dev/null
wait_state "$running" BUILD_STATE_CANCELLED 20
sf status "$running" --json | json_field error | grep -q "wrong branch" || fail "the cancel reason was not recorded"
wait "$follower"
sleep 0.5
pgrep -f "$STATE/work/local/$running" > /dev/null && fail "phase processes survived the cancel"
[ ! -e "$STATE/work/local/$running" ] || fail "the cancelled build's instance directory is still there"
grep -q "compiling step 60 " "$TEST_TMP/follow.out" && fail "the build ran to the end despite the cancel"

# submit (following) exits 4 when its build is cancelled.
( sleep 3; sf cancel "$(sf list --state running --json | json_field builds.0.id)" > /dev/null ) &
canceller=$!
expect_exit 4 sf submit 24.11 --recipe hello --variant slow --force
wait "$canceller"

# A failing build exits 1 and the error names the phase.
expect_exit 1 sf submit 24.11 --recipe hello --variant fail
grep -q "compile" "$TEST_TMP/last.err" || fail "the failure message does not name the failed phase"
cancel_done=$(sf list --state succeeded --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["builds"]))')
[ "$cancel_done" = 0 ] || fail "a cancelled or failed build is listed as succeeded"
log "ok"
