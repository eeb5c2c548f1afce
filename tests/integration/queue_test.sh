#!/usr/bin/env bash
# Maintenance: `sfactory queue pause` keeps builds queued (submits say why),
# the pause survives a restart, `queue resume` starts them; a non-admin is
# refused. grpc.health.v1 (asked by Python grpcio) says NOT_SERVING for the
# build service while the provider is not usable, SERVING once it is.
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c 'import grpc' 2> /dev/null || skip "python3-grpcio is not installed"
PROTO="$SFACTORY_SOURCE_DIR/proto/sfactory/v1/sfactory.proto"
probe() {
  /usr/bin/python3 "$SFACTORY_SOURCE_DIR/tests/integration/grpc_probe.py" --proto "$PROTO" \
    --unix "$SOCK" "$@"
}

start_daemon
seed_hello
[ "$(probe health sfactory.v1.BuildService)" = "OK SERVING" ] || fail "the build service is not SERVING"

expect_exit 0 sf queue pause --reason "upgrading LXD"
grep -q "the queue is paused" "$TEST_TMP/last.err" || fail "pause did not say what it did"
sf info > "$TEST_TMP/info.txt"
grep -Eq "^queue: +PAUSED by root since .*: upgrading LXD" "$TEST_TMP/info.txt" ||
  { cat "$TEST_TMP/info.txt" >&2; fail "info does not show the pause"; }
id=$(sf submit 24.11 --detach 2> "$TEST_TMP/submit.err")
grep -q "builds are not starting now: the queue is PAUSED by root" "$TEST_TMP/submit.err" ||
  { cat "$TEST_TMP/submit.err" >&2; fail "submit does not say the queue is paused"; }
sleep 3
[ "$(state_of "$id")" = BUILD_STATE_QUEUED ] || fail "a build started while the queue was paused"

# The pause survives a restart.
stop_daemon
start_daemon
sf info | grep -q "PAUSED by root" || fail "the pause did not survive a restart"
sleep 2
[ "$(state_of "$id")" = BUILD_STATE_QUEUED ] || fail "a build started after the restart while paused"
expect_exit 0 sf queue resume
wait_state "$id" BUILD_STATE_SUCCEEDED 60
sf info | grep -q "PAUSED" && fail "info still shows a pause after resume"
log "pause keeps builds queued across a restart; resume runs them"

# Health follows the provider: an LXD provider whose socket does not exist.
stop_daemon
write_config "provider: lxd" "lxd: {socket: $TEST_TMP/no-lxd.sock}"
start_daemon
for _ in $(seq 1 50); do
  [ "$(probe health sfactory.v1.BuildService)" = "OK NOT_SERVING" ] && break
  sleep 0.2
done
[ "$(probe health sfactory.v1.BuildService)" = "OK NOT_SERVING" ] ||
  fail "the build service is not NOT_SERVING with no LXD: $(probe health sfactory.v1.BuildService)"
[ "$(probe health sfactory.v1.ServerInfoService)" = "OK SERVING" ] || fail "info stopped serving"
log "health: NOT_SERVING for builds while the provider is not usable"

# provider: auto never falls back to local where LXD is installed (here the
# config names its socket): the daemon uses LXD and builds wait for it.
stop_daemon
write_config "provider: auto" "lxd: {socket: $TEST_TMP/no-lxd.sock}"
start_daemon
sf info > "$TEST_TMP/info-auto.txt"
grep -Eq "^provider: +lxd \(NOT USABLE\)" "$TEST_TMP/info-auto.txt" ||
  { cat "$TEST_TMP/info-auto.txt" >&2; fail "auto did not stay with the installed LXD"; }
grep -q "^provider problem: " "$TEST_TMP/info-auto.txt" || fail "info does not say why builds wait"
grep -q "LXD is installed (the config names the LXD socket" "$DAEMON_LOG" ||
  fail "the daemon log does not say why it waits for LXD"
id=$(sf submit 24.11 --force --detach 2> "$TEST_TMP/submit-auto.err")
grep -q "builds are not starting now" "$TEST_TMP/submit-auto.err" || fail "submit does not say builds wait"
sleep 2
[ "$(state_of "$id")" = BUILD_STATE_QUEUED ] || fail "a build ran on the host although LXD is installed"
log "auto: an installed LXD that does not answer is waited for, never replaced by local"
