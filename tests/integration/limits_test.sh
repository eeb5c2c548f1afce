#!/usr/bin/env bash
# Bounds on a build: a phase that sleeps past its recipe `timeout:` fails on
# time, naming the phase and the limit, and leaves no instance and no
# process; `max_build_time` stops a whole build the same way; a phase that
# prints without end fails at `max_log_size` and the log keeps its head and
# its tail. Each failure is FAILED (not cancelled) and keeps a debug bundle.
source "$(dirname "$0")/lib.sh"

# A copy of the hello recipe whose compile phase has a 2 s timeout and, with
# the `chatty` variant, prints without end.
mkdir -p "$TEST_TMP/recipes"
cp -r "$SFACTORY_SOURCE_DIR/tests/recipes/hello" "$TEST_TMP/recipes/limits"
sed -i 's/^name: hello/name: limits/; s/^variants: \[slow, fail, big\]/variants: [slow, fail, big, chatty]/' \
  "$TEST_TMP/recipes/limits/recipe.yaml"
sed -i 's/^    script: compile.sh$/    script: compile.sh\n    timeout: 2s/' "$TEST_TMP/recipes/limits/recipe.yaml"
grep -q "timeout: 2s" "$TEST_TMP/recipes/limits/recipe.yaml" || fail "could not set the test timeout"
# shellcheck disable=SC2016  # $SF_VARIANTS belongs to the phase script
sed -i '1a case " $SF_VARIANTS " in *" chatty "*) echo "first line of the chatty phase"; yes "spam spam spam spam spam spam spam"; esac' \
  "$TEST_TMP/recipes/limits/compile.sh"
write_config "recipe_dirs: [$SFACTORY_SOURCE_DIR/templates/recipes, $TEST_TMP/recipes]" \
  "default_recipe: limits"
start_daemon
seed_hello

# failed_with ID TEXT: waits for ID to fail and checks its error holds TEXT.
failed_with() {
  local id=$1 want=$2 err
  wait_state "$id" BUILD_STATE_FAILED 30 || true
  [ "$(state_of "$id")" = BUILD_STATE_FAILED ] || fail "build $id is $(state_of "$id"), not failed"
  err=$(sf status "$id" --json | json_field error)
  [[ "$err" == *"$want"* ]] || fail "the error of $id does not say \"$want\": $err"
}

no_leftovers() {  # ID: no instance dir, no phase process
  local id=$1
  if pgrep -f "compiling step" > /dev/null; then fail "a phase process of $id is still running"; fi
  if [ -n "$(find "$STATE/work" -mindepth 2 -maxdepth 2 -name "*$id*" 2> /dev/null)" ]; then
    find "$STATE/work" -maxdepth 3 >&2
    fail "the instance of $id is still there"
  fi
}

# 1. The phase timeout: the slow variant's compile takes 30 s.
start=$SECONDS
id=$(sf submit 24.11 --recipe limits --variant slow --detach)
failed_with "$id" "phase compile ran longer than its timeout (2s, timeout: in recipe.yaml)"
took=$((SECONDS - start))
[ "$took" -lt 15 ] || fail "the 2 s phase timeout took $took s to stop the build"
sf logs "$id" | grep -q "==> compile: timeout" || fail "the log does not mark the step timed out"
sf status "$id" --json | json_field debug_bundle.name > /dev/null || fail "no debug bundle for a timed-out build"
sleep 1
no_leftovers "$id"
log "phase timeout: failed after $took s, naming the phase and the limit; nothing left running"

# 2. max_build_time, below the phase's own timeout.
stop_daemon
write_config "recipe_dirs: [$SFACTORY_SOURCE_DIR/templates/recipes, $SFACTORY_SOURCE_DIR/tests/recipes]" \
  "max_build_time: 3s"
start_daemon
id=$(sf submit 24.11 --recipe hello --variant slow --detach)
failed_with "$id" "the build ran longer than max_build_time (3s) during step compile"
sleep 1
no_leftovers "$id"
log "max_build_time: failed naming the limit and the step"

# 3. max_log_size: 256 KiB, with a phase printing without end.
stop_daemon
write_config "recipe_dirs: [$SFACTORY_SOURCE_DIR/templates/recipes, $TEST_TMP/recipes]" \
  "default_recipe: limits" "max_log_size: 256KiB"
start_daemon
id=$(sf submit 24.11 --recipe limits --variant chatty --detach)
failed_with "$id" "the build log passed max_log_size (256.0 KiB) during step compile"
sf logs "$id" > "$TEST_TMP/chatty.log"
size=$(stat -c %s "$TEST_TMP/chatty.log")
[ "$size" -lt $((256 * 1024 + 1024 * 1024 + 64 * 1024)) ] || fail "the cut log is $size bytes"
grep -q "first line of the chatty phase" "$TEST_TMP/chatty.log" || fail "the log lost its head"
grep -q "==> the log reached max_log_size" "$TEST_TMP/chatty.log" || fail "no note where the log was cut"
grep -Eq "^==> \[[0-9]+ bytes of log cut at max_log_size; the last [0-9]+ follow\]" "$TEST_TMP/chatty.log" ||
  fail "no note of what was cut"
tail -n 1 "$TEST_TMP/chatty.log" | grep -q "==> build $id failed: the build log passed max_log_size" ||
  fail "the log does not end with the failure: $(tail -n 2 "$TEST_TMP/chatty.log")"
pgrep -x yes > /dev/null && fail "the chatty phase is still printing"
log "max_log_size: failed; the log kept its head ($size bytes in all) and its tail"
