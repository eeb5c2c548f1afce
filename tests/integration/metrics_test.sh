#!/usr/bin/env bash
# metrics_listen: a Prometheus endpoint. Debian's real promtool accepts a
# scrape taken while a build runs; the counters move with a build, an RPC
# and a fetch; a taken address stops the daemon with a message naming the key.
source "$(dirname "$0")/lib.sh"
command -v promtool > /dev/null || skip "promtool is not installed (scripts/install-test-tools.sh)"
command -v curl > /dev/null || skip "curl is not installed"

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
write_config "metrics_listen: 127.0.0.1:$port"
start_daemon
seed_hello
scrape() { curl -fsS "http://127.0.0.1:$port/metrics"; }
# metric_value NAME{LABELS} : the value of one sample, 0 when absent.
metric_value() { scrape | awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }'; }

scrape > "$TEST_TMP/idle.prom" || fail "no answer on the metrics port"
promtool check metrics < "$TEST_TMP/idle.prom" || fail "promtool rejects the idle scrape"
grep -q '^sfactory_build_info{version="' "$TEST_TMP/idle.prom" || fail "no sfactory_build_info"
grep -q '^sfactory_provider_up 1' "$TEST_TMP/idle.prom" || fail "the local provider is not up"
before_submit=$(metric_value 'sfactory_grpc_requests_total{code="OK",method="sfactory.v1.BuildService/SubmitBuild"}')
before_ok=$(metric_value 'sfactory_builds_total{recipe="hello",result="succeeded",series="24.11"}')

id=$(sf submit 24.11 --variant slow --detach)
wait_state "$id" BUILD_STATE_RUNNING 30
scrape > "$TEST_TMP/running.prom"
promtool check metrics < "$TEST_TMP/running.prom" || fail "promtool rejects the scrape taken while a build runs"
grep -q '^sfactory_builds{state="running"} 1' "$TEST_TMP/running.prom" || fail "the running build is not counted"
wait_state "$id" BUILD_STATE_SUCCEEDED 90

after_ok=$(metric_value 'sfactory_builds_total{recipe="hello",result="succeeded",series="24.11"}')
[ "$after_ok" -eq $((before_ok + 1)) ] || fail "builds_total went $before_ok -> $after_ok"
after_submit=$(metric_value 'sfactory_grpc_requests_total{code="OK",method="sfactory.v1.BuildService/SubmitBuild"}')
[ "$after_submit" -gt "$before_submit" ] || fail "SubmitBuild calls are not counted"
[ "$(metric_value 'sfactory_phase_duration_seconds_count{phase="compile",recipe="hello"}')" -ge 1 ] ||
  fail "the compile step has no duration sample"
expect_exit 5 sf status no-such-build
[ "$(metric_value 'sfactory_grpc_requests_total{code="NOT_FOUND",method="sfactory.v1.BuildService/GetBuild"}')" -ge 1 ] ||
  fail "a failed call is not counted by its code"
sf fetch "$id" -o "$TEST_TMP/out" > /dev/null
[ "$(metric_value sfactory_fetch_bytes_total)" -gt 0 ] || fail "fetched bytes are not counted"
scrape > "$TEST_TMP/after.prom"
promtool check metrics < "$TEST_TMP/after.prom" || fail "promtool rejects the scrape after the build"
grep -Eq '^sfactory_cache_bytes\{area="artifacts"\} [1-9]' "$TEST_TMP/after.prom" ||
  fail "the artifacts area has no bytes after a build"
if command -v ccache > /dev/null; then
  grep -q '^sfactory_ccache_misses_total ' "$TEST_TMP/after.prom" || fail "no ccache counters"
fi
log "promtool accepts every scrape; builds, steps, RPCs, fetch bytes and gauges move"

# A second daemon on the same metrics port refuses to start and says why.
stop_daemon
python3 - "$port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(20)
PY
holder=$!
sleep 0.5
rc=0
"$SFACTORYD" --config "$TEST_TMP/sfactoryd.yaml" > "$TEST_TMP/taken.log" 2>&1 || rc=$?
kill "$holder" 2> /dev/null || true
[ "$rc" -ne 0 ] || fail "sfactoryd started although the metrics port was taken"
grep -q "metrics_listen" "$TEST_TMP/taken.log" || { cat "$TEST_TMP/taken.log" >&2; fail "the error does not name metrics_listen"; }
log "a taken metrics port is an error naming metrics_listen"
