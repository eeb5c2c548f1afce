#!/usr/bin/env bash
# The real sfactoryd and sfactory with the LXD provider and real LXD: the log
# streams live from inside the container; the container is gone afterwards;
# a second build reuses the base image; the artifact is byte-identical to the
# local provider's; cancel leaves no container; stopping LXD mid-build fails
# that build cleanly, keeps the next one queued (sfactory info says why) and
# runs it once LXD is back. Exit 77 (skipped) only when LXD cannot start.
source "$(dirname "$0")/../integration/lib.sh"
project=sfactory-test  # shared with lxd_test: one base image for both
if ! timeout 10 lxc query /1.0 > /dev/null 2>&1; then
  skip "LXD does not answer (run scripts/lxd-setup.sh as root)"
fi
# This test stops LXD; whatever happens, leave it running for the next test.
restore_lxd() {
  timeout 10 lxc query /1.0 > /dev/null 2>&1 || "$SFACTORY_SOURCE_DIR/scripts/lxd-setup.sh" > /dev/null 2>&1 || true
}
trap 'rc=$?; restore_lxd; (exit $rc); on_exit' EXIT
containers() { lxc list --project "$project" --format csv -c n 2>/dev/null | grep "^sf-$1" || true; }
images() { lxc image list --project "$project" --format csv -c f 2>/dev/null | wc -l; }

write_config "provider: lxd" "max_parallel_builds: 1" "lxd: {project: $project}"
start_daemon
sf info | grep -q "provider:  lxd (ready)" || { sf info; fail "LXD provider not ready"; }
seed_hello

# Live log: compile lines reach a follower while the build still runs.
a=$(sf submit 24.11 --recipe hello --variant slow --detach)
sf logs "$a" --follow > "$TEST_TMP/a.log" 2>/dev/null &
follower=$!
for _ in $(seq 1 600); do grep -q "compiling step 3 " "$TEST_TMP/a.log" 2>/dev/null && break; sleep 0.5; done
grep -q "compiling step 3 " "$TEST_TMP/a.log" || fail "no live compile lines from the container"
[ "$(state_of "$a")" = BUILD_STATE_RUNNING ] || fail "lines arrived only after the build ended"
[ -n "$(containers "$a")" ] || fail "no container sf-$a while the build runs"
wait "$follower"
wait_state "$a" BUILD_STATE_SUCCEEDED 300
[ -z "$(containers "$a")" ] || fail "container of $a left behind: $(containers "$a")"

# A second build reuses the base: no new image, no debootstrap.
n_images=$(images)
b=$(sf submit 24.11.6 --recipe hello --detach)
wait_state "$b" BUILD_STATE_SUCCEEDED 300
[ "$(images)" = "$n_images" ] || fail "a second base image appeared"
sf logs "$b" | grep -qi "debootstrap" && fail "the second build ran debootstrap"
sf fetch "$b" -o "$TEST_TMP/lxd-out" > /dev/null

# Cancel mid-build leaves no container.
c=$(sf submit 23.11 --recipe hello --variant slow --detach)
for _ in $(seq 1 600); do sf logs "$c" | grep -q "compiling step 2 " && break; sleep 0.5; done
sf cancel "$c" > /dev/null
wait_state "$c" BUILD_STATE_CANCELLED 120
sleep 1
[ -z "$(containers "$c")" ] || fail "cancel left container $(containers "$c")"

# LXD stops mid-build: that build fails with a clear error, the next stays
# queued while LXD is down and runs after it is back.
d=$(sf submit 25.05 --recipe hello --variant slow --detach)
e=$(sf submit 22.05 --recipe hello --detach)
for _ in $(seq 1 600); do sf logs "$d" | grep -q "compiling step 2 " && break; sleep 0.5; done
timeout 120 lxd shutdown || true
wait_state "$d" BUILD_STATE_FAILED 180
sf status "$d" --json | json_field error | grep -qi "lxd" || fail "the failure does not mention LXD: $(sf status "$d" --json | json_field error)"
sleep 3
[ "$(state_of "$e")" = BUILD_STATE_QUEUED ] || fail "the next build did not stay queued while LXD was down"
sf info > "$TEST_TMP/info.txt" || true
# shellcheck disable=SC2015  # fail unless both hold
grep -qi "lxd" "$TEST_TMP/info.txt" && grep -qiE "not running|cannot|unreachable|start" "$TEST_TMP/info.txt" \
  || { cat "$TEST_TMP/info.txt"; fail "sfactory info does not explain that LXD is down"; }
"$SFACTORY_SOURCE_DIR/scripts/lxd-setup.sh" > "$TEST_TMP/lxd-setup.log" 2>&1 || { cat "$TEST_TMP/lxd-setup.log"; fail "LXD did not come back"; }
wait_state "$e" BUILD_STATE_SUCCEEDED 300
stop_daemon

# The same spec through the local provider gives the same bytes.
STATE="$TEST_TMP/local-state"
write_config "provider: local" "state_dir: $STATE"
start_daemon
seed_hello
l=$(sf submit 24.11.6 --recipe hello --detach)
wait_state "$l" BUILD_STATE_SUCCEEDED 120
sf fetch "$l" -o "$TEST_TMP/local-out" > /dev/null
soft=$(cd "$TEST_TMP/local-out" && ls -- *-software.tar.zst)
cmp "$TEST_TMP/local-out/$soft" "$TEST_TMP/lxd-out/$soft" \
  || fail "the LXD and local software tarballs differ"
log "ok"
