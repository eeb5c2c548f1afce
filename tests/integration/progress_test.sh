#!/usr/bin/env bash
# --progress: rawjson is one JSON object a line with every step and every log
# byte; quiet prints nothing while the build runs; tty is a live view in a
# real terminal (tmux): done steps with times, the running step with the last
# lines of its log, pending steps with estimates from the last build; after a
# failure the failing step's last lines and the commands to run next; Ctrl-C
# detaches and the build keeps running.
source "$(dirname "$0")/lib.sh"
command -v tmux > /dev/null || skip "tmux is not installed (scripts/install-test-tools.sh)"

start_daemon
seed_hello

# rawjson, checked line by line.
expect_exit 0 sf submit 24.11 --progress rawjson --force
/usr/bin/python3 - "$TEST_TMP/last.out" <<'PY' || fail "the rawjson stream is wrong (above)"
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
kinds = [e["event"] for e in events]
assert kinds[0] == "submitted" and kinds[-1] == "end", kinds
bid = events[0]["build_id"]
assert all(e["build_id"] == bid for e in events), "one build id throughout"
assert all(e["time"].endswith("Z") for e in events), "UTC times"
offset = 0
log = ""
for e in events:
    if e["event"] == "log":
        assert e["offset"] == offset, (e["offset"], offset)
        offset += e["size"]
        log += e["data"]
starts = [e["step"] for e in events if e["event"] == "step_start"]
ends = [(e["step"], e["result"]) for e in events if e["event"] == "step_end"]
assert starts == [s for s, _ in ends], (starts, ends)
assert "compile" in starts and starts[0] == "sources" and starts[-1] == "store", starts
assert all(r == "ok" for _, r in ends), ends
assert all(e["total"] == len(starts) for e in events if e["event"].startswith("step_")), "totals"
assert "==> [1/%d] sources" % len(starts) in log, "the log came through"
end = events[-1]
assert end["state"] == "succeeded" and end["next_offset"] == offset, end
assert any(a["kind"] == "software" for a in end["artifacts"]), end["artifacts"]
PY
grep -q '"event"' "$TEST_TMP/last.err" && fail "rawjson wrote JSON on stderr"
log "rawjson: every step and every log byte, offsets contiguous"

# quiet: the build id on stdout and nothing on stderr.
expect_exit 0 sf submit 24.11 --progress quiet --force
[ "$(wc -l < "$TEST_TMP/last.out")" -eq 1 ] || fail "quiet printed more than the build id"
[ -s "$TEST_TMP/last.err" ] && fail "quiet printed on stderr: $(cat "$TEST_TMP/last.err")"
expect_exit 2 sf submit 24.11 --progress fancy
grep -q "auto, tty, plain, rawjson, quiet" "$TEST_TMP/last.err" || fail "a bad mode does not list the modes"

# tty in a real terminal. The `slow` variant's compile step prints a line
# every half second for 30 s.
# A tmux server per run: a new session on a server that is still exiting
# fails ("server exited unexpectedly").
runs=0
tmux_sock="$TEST_TMP/tmux-0.sock"
term() { tmux -S "$tmux_sock" "$@"; }
screen() { term capture-pane -p -t sf; }
wait_screen() {  # wait_screen REGEX SECONDS
  for _ in $(seq 1 $(($2 * 5))); do
    screen | grep -Eq -- "$1" && return 0
    sleep 0.2
  done
  screen >&2
  fail "the screen never showed /$1/"
}
run_in_term() {  # the client in a 100x30 terminal; its exit code at the end
  term kill-server 2> /dev/null || true
  runs=$((runs + 1))
  tmux_sock="$TEST_TMP/tmux-$runs.sock"
  term new-session -d -s sf -x 100 -y 30 bash -c \
    "env SFACTORY_ADDRESS=$SFACTORY_ADDRESS TERM=xterm $SFACTORY $*; echo EXIT=\$?; sleep 600"
}
cleanup_term() { term kill-server 2> /dev/null || true; }
trap 'rc=$?; cleanup_term; (exit $rc); on_exit' EXIT

run_in_term submit 24.11 --variant slow
wait_screen 'compiling step (1[0-9]|[2-9][0-9]) of 60' 60
shot=$(screen)
echo "$shot" >&2
grep -Eq '^\[\+\] b[0-9a-z]+: Slurm 24\.11\.[0-9]+ \(hello \+slow' <<< "$shot" || fail "no header line"
grep -Eq '^ => \[ ?1/[0-9]+\] sources +[0-9.]+s' <<< "$shot" || fail "the done step has no time"
grep -Eq '^ => \[ ?[0-9]+/[0-9]+\] compile +[0-9.]+s' <<< "$shot" || fail "the running step is not shown"
grep -Eq '^      \| compiling step [0-9]+ of 60' <<< "$shot" || fail "the running step's log is not beneath it"
# Estimates come from the rawjson and quiet builds of the same recipe.
grep -Eq '^    \[ ?[0-9]+/[0-9]+\] install +~[0-9.]+s' <<< "$shot" || fail "a pending step has no estimate"
grep -q 'compiling step 1 of 60' <<< "$shot" && fail "old log lines stay on the screen"
cp <(echo "$shot") "$TEST_TMP/screen-running.txt"
# Ctrl-C detaches; the build keeps running.
term send-keys -t sf C-c
wait_screen 'EXIT=130' 10
screen | grep -q "detached; build .* keeps running. Re-attach with .sfactory logs -f" ||
  { screen >&2; fail "Ctrl-C did not say how to re-attach"; }
slow_id=$(sf list --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["builds"][0]["id"])')
[ "$(state_of "$slow_id")" = BUILD_STATE_RUNNING ] || fail "Ctrl-C stopped the build"
# Re-attached with logs -f, the view follows it to the end.
run_in_term logs -f "$slow_id"
wait_screen 'EXIT=0' 90
screen | grep -Eq "^\[\+\] $slow_id: .* succeeded" || { screen >&2; fail "the final view does not say succeeded"; }
screen | grep -Eq '^ => \[ ?[0-9]+/[0-9]+\] store +[0-9.]+s' || fail "the last step is not done in the final view"
log "tty: live steps, estimates, Ctrl-C detach and re-attach"

# A failure: the failing step, its last lines, the next commands.
run_in_term submit 24.11 --variant fail
wait_screen 'EXIT=1' 60
shot=$(screen)
echo "$shot" >&2
grep -Eq '^ !> \[ ?[0-9]+/[0-9]+\] compile +[0-9.]+s  FAILED' <<< "$shot" || fail "the failed step is not marked"
grep -Eq -- '--- the last [0-9]+ lines of step compile ---' <<< "$shot" || fail "no tail of the failing step"
grep -q 'error: the fail variant stops here' <<< "$shot" || fail "the error line is not in the tail"
grep -Eq 'the whole log: +sfactory logs b' <<< "$shot" || fail "no hint for the whole log"
grep -Eq 'a debug bundle: +sfactory debug b' <<< "$shot" || fail "no hint for the debug bundle"
cp <(echo "$shot") "$TEST_TMP/screen-failed.txt"
if [ -n "${SFACTORY_SCREENSHOTS:-}" ]; then cp "$TEST_TMP"/screen-*.txt "$SFACTORY_SCREENSHOTS/"; fi
log "tty: a failure shows the failing step's tail and the next commands"
