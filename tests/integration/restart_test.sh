#!/usr/bin/env bash
# kill -9 of the daemon while builds are running and queued loses nothing:
# after a restart the running one is requeued (attempt 2) and both finish.
# SIGTERM requeues a running build without counting an attempt.
source "$(dirname "$0")/lib.sh"
write_config "max_parallel_builds: 1"
start_daemon
seed_hello

a=$(sf submit 24.11 --recipe hello --variant slow --detach)
b=$(sf submit 24.11.6 --recipe hello --detach)
c=$(sf submit 23.11 --recipe hello --detach)
wait_state "$a" BUILD_STATE_RUNNING
sleep 1
old_pids=$(pgrep -f "$STATE/work/local/$a/" || true)
[ -n "$old_pids" ] || fail "no phase process found for the running build"
kill9_daemon
start_daemon
for p in $old_pids; do
  if kill -0 "$p" 2>/dev/null && grep -q "$STATE/work/local/$a/" "/proc/$p/cmdline" 2>/dev/null; then
    fail "phase process $p of the crashed daemon survived the restart"
  fi
done
for id in "$a" "$b" "$c"; do
  st=$(state_of "$id")
  case "$st" in BUILD_STATE_QUEUED|BUILD_STATE_RUNNING|BUILD_STATE_SUCCEEDED) ;; *) fail "$id is $st after restart";; esac
done
wait_state "$a" BUILD_STATE_SUCCEEDED 90
wait_state "$b" BUILD_STATE_SUCCEEDED 30
wait_state "$c" BUILD_STATE_SUCCEEDED 30
[ "$(sf status "$a" --json | json_field attempt)" = 2 ] || fail "the interrupted build did not run a second attempt"

# Graceful: SIGTERM during a build requeues it and the next start finishes it.
d=$(sf submit 25.05 --recipe hello --variant slow --detach)
wait_state "$d" BUILD_STATE_RUNNING
sleep 1
stop_daemon
start_daemon
[ "$(sf status "$d" --json | json_field attempt)" -le 1 ] || fail "a clean shutdown counted as a failed attempt"
wait_state "$d" BUILD_STATE_SUCCEEDED 90
[ "$(sf status "$d" --json | json_field attempt)" = 1 ] || fail "after SIGTERM the rerun is not attempt 1"
sf fetch "$a" -o "$TEST_TMP/out" > /dev/null
(cd "$TEST_TMP/out" && sha256sum -c SHA256SUMS > /dev/null) || fail "artifacts of the restarted build do not verify"
log "ok"
