# Shared helpers for the integration tests: each test starts the real
# sfactoryd on a temporary unix socket with the local provider and drives the
# real sfactory binary. The temp dir is removed on success and skip, and kept
# (with the daemon log printed) on failure.
set -euo pipefail

: "${SFACTORYD:?set by ctest}" "${SFACTORY:?set by ctest}" "${SFACTORY_SOURCE_DIR:?set by ctest}"
TEST_NAME=$(basename "$0" .sh)
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sf-it-$TEST_NAME.XXXXXX")
SOCK="$TEST_TMP/run/sfactoryd.sock"
STATE="$TEST_TMP/state"
DAEMON_LOG="$TEST_TMP/daemon.log"
DAEMON_PID=""
export SFACTORY_ADDRESS="unix:$SOCK"
export SF_TEST_FIXTURE="$SFACTORY_SOURCE_DIR/tests/fixtures/hello-1.0.tar.gz"

log() { echo "[$TEST_NAME] $*" >&2; }

fail() {
  log "FAILED: $*"
  exit 1
}

# skip REASON: the test cannot run here. Exit 77 is ctest's SKIP_RETURN_CODE
# (reported "Skipped", never "Passed"); CI fails on it (scripts/test.sh).
skip() {
  log "SKIPPED: $*"
  exit 77
}

on_exit() {
  local rc=$?
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then
    rm -rf "$TEST_TMP"
  else
    log "kept $TEST_TMP; daemon log tail:"
    tail -n 40 "$DAEMON_LOG" >&2 2>/dev/null || true
  fi
}
trap on_exit EXIT

# write_config [key: value ...] : the test config; a given key replaces the
# default line for it.
# shellcheck disable=SC2120  # the test scripts pass the keys
write_config() {
  local defaults=(
    "listen: [unix:$SOCK]"
    "state_dir: $STATE"
    "provider: local"
    "data_dir: $SFACTORY_SOURCE_DIR/templates"
    "recipe_dirs: [$SFACTORY_SOURCE_DIR/templates/recipes, $SFACTORY_SOURCE_DIR/tests/recipes]"
    "catalog_dirs: [$TEST_TMP/catalog.d]"  # not the host's /etc/sfactory/catalog.d
    "default_recipe: hello"
    "build_jobs: 2"
    "min_free_space: 64MiB"  # the hello builds are tiny; not the host's disk
  )
  local line extra
  {
    for line in "${defaults[@]}"; do
      for extra in "$@"; do [[ "${extra%%:*}" == "${line%%:*}" ]] && continue 2; done
      echo "$line"
    done
    for extra in "$@"; do echo "$extra"; done
  } > "$TEST_TMP/sfactoryd.yaml"
}

start_daemon() {
  # shellcheck disable=SC2119  # no arguments: the defaults
  [ -f "$TEST_TMP/sfactoryd.yaml" ] || write_config
  "$SFACTORYD" --config "$TEST_TMP/sfactoryd.yaml" >> "$DAEMON_LOG" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 1 100); do
    if "$SFACTORY" info > /dev/null 2>&1; then return 0; fi
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "sfactoryd exited during start"
    sleep 0.1
  done
  fail "sfactoryd did not answer within 10 s"
}

stop_daemon() {
  kill -TERM "$DAEMON_PID"
  local rc=0
  wait "$DAEMON_PID" || rc=$?
  DAEMON_PID=""
  [ "$rc" -eq 0 ] || fail "sfactoryd exited $rc after SIGTERM"
}

kill9_daemon() {
  kill -KILL "$DAEMON_PID"
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=""
}

sf() { "$SFACTORY" "$@"; }

seed_hello() { sf sources add "$SF_TEST_FIXTURE" > /dev/null; }

# expect_exit CODE command... : runs it, fails unless it exits CODE.
expect_exit() {
  local want=$1
  shift
  local rc=0
  "$@" > "$TEST_TMP/last.out" 2> "$TEST_TMP/last.err" || rc=$?
  if [ "$rc" -ne "$want" ]; then
    cat "$TEST_TMP/last.out" "$TEST_TMP/last.err" >&2
    fail "expected exit $want from '$*', got $rc"
  fi
}

# json_field FIELD < json : prints a top-level field of a JSON document.
json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); v=d
for k in sys.argv[1].split("."): v=v[k] if not k.isdigit() else v[int(k)]
print(v)' "$1"; }

state_of() { sf status "$1" --json | json_field state; }

# wait_state ID STATE [seconds]
wait_state() {
  local id=$1 want=$2 limit=${3:-60}
  local st
  for _ in $(seq 1 $((limit * 5))); do
    st=$(state_of "$id")
    [ "$st" = "$want" ] && return 0
    case "$st" in
      BUILD_STATE_SUCCEEDED|BUILD_STATE_FAILED|BUILD_STATE_CANCELLED)
        sf logs "$id" | tail -n 15 >&2
        fail "build $id ended $st while waiting for $want" ;;
    esac
    sleep 0.2
  done
  fail "build $id did not reach $want within ${limit}s (it is $(state_of "$id"))"
}
