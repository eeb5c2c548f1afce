#!/usr/bin/env bash
# The unix socket as a team uses it, with real uids created here (and
# removed after): two members of the socket group and one outsider.
#  - a member submits; the other member lists, watches and fetches it, but
#    cannot cancel it, also not with a hand-written gRPC call (Python
#    grpcio) that forges the sfactory-user metadata;
#  - the outsider cannot connect at all;
#  - an admin (root) can cancel it; admin-only calls are refused for members
#    (exit 6) and logged with the caller's identity.
source "$(dirname "$0")/lib.sh"

# shellcheck source=other_uids.sh
source "$(dirname "$0")/other_uids.sh"
suffix=$$
group="sfit$suffix"
alice="sfa$suffix"
bob="sfb$suffix"
eve="sfe$suffix"
test_users "$group" "$alice" "$bob" -- "$eve"

write_config "socket_group: $group"
start_daemon
seed_hello

# The socket and its directory belong to the group, and nobody else.
[ "$(stat -c '%G %a' "$SOCK")" = "$group 660" ] || fail "socket is $(stat -c '%U:%G %a' "$SOCK")"
[ "$(stat -c '%G %a' "$(dirname "$SOCK")")" = "$group 750" ] ||
  fail "socket dir is $(stat -c '%U:%G %a' "$(dirname "$SOCK")")"

# Who the daemon thinks each caller is: the kernel's uid, not a claim.
out=$(probe "$bob" --header "sfactory-user=$alice" whoami) || fail "whoami as $bob: $out"
[[ "$out" == "OK name=$bob via=unix-socket admin=false" ]] || fail "bob is seen as: $out"
asf "$alice" whoami > "$TEST_TMP/whoami.out" || fail "sfactory whoami as $alice failed"
grep -q "$alice" "$TEST_TMP/whoami.out" || fail "whoami: $(cat "$TEST_TMP/whoami.out")"

# Alice submits a slow build; it is hers.
id=$(asf "$alice" submit 24.11.6 --recipe hello --variant slow --detach) || fail "submit as $alice"
[ "$(sf status "$id" --json | json_field owner)" = "$alice" ] || fail "owner is not $alice"

# Bob sees it...
asf "$bob" list > "$TEST_TMP/list.out" || fail "list as $bob"
grep -q "$id" "$TEST_TMP/list.out" || fail "$bob does not see $id"
asf "$bob" status "$id" > /dev/null || fail "status as $bob"

# ...but may not cancel it: not with the CLI, not with forged metadata.
expect_exit 6 asf "$bob" cancel "$id"
grep -q "owner\|admin" "$TEST_TMP/last.err" || fail "refusal does not say who may: $(cat "$TEST_TMP/last.err")"
out=$(probe "$bob" --header "sfactory-user=$alice" --header "sfactory-user=root" cancel "$id") &&
  fail "forged cancel was accepted: $out"
[[ "$out" == "ERROR PERMISSION_DENIED"* ]] || fail "forged cancel: $out"
[ "$(state_of "$id")" != BUILD_STATE_CANCELLED ] || fail "the build was cancelled by $bob"

# Members may not do admin work, nor jump the queue.
expect_exit 6 asf "$bob" images prune
expect_exit 6 asf "$bob" queue pause --reason "not mine to pause"
grep -q "pause the build queue" "$TEST_TMP/last.err" || fail "the pause refusal does not name the action"
out=$(probe "$bob" set-queue-paused true) && fail "grpcio as $bob paused the queue: $out"
[[ "$out" == "ERROR PERMISSION_DENIED"* ]] || fail "pause by a member: $out"
out=$(probe "$bob" submit 24.11.6 --recipe hello --priority 100) && fail "priority 100 accepted: $out"
[[ "$out" == "ERROR PERMISSION_DENIED"* ]] || fail "priority above the cap: $out"
grep -q "$bob" "$DAEMON_LOG" || fail "the refusals are not logged with the caller"

# Only an admin may add a source under a name the catalog does not know.
head -c 4096 /dev/urandom > "$TEST_TMP/probe/blob" && chmod 644 "$TEST_TMP/probe/blob"
out=$(probe "$bob" add-source mystery-1.0.tar.gz "$TEST_TMP/probe/blob") && fail "unknown name: $out"
[[ "$out" == "ERROR PERMISSION_DENIED"* ]] || fail "unknown name by a member: $out"
sf sources list | grep -q mystery && fail "the refused source is listed"

# An outsider cannot connect.
out=$(probe "$eve" whoami) && fail "$eve, not in $group, got in: $out"
if asf "$eve" list > /dev/null 2>&1; then fail "$eve could list builds"; fi

# Alice fetches her build after it finished; bob fetches it too.
wait_state "$id" BUILD_STATE_SUCCEEDED 120
mkdir -m 0777 "$TEST_TMP/out-bob" && chmod 1777 "$TEST_TMP/out-bob"
(cd "$TEST_TMP/out-bob" && asf "$bob" fetch "$id" -o "$TEST_TMP/out-bob") || fail "fetch as $bob"
[ "$(stat -c '%a' "$TEST_TMP/out-bob")" = 1777 ] || fail "fetch changed the mode of the output dir"
[ -n "$(find "$TEST_TMP/out-bob" -mindepth 1 -print -quit)" ] || fail "fetch as $bob wrote nothing"

# An admin can cancel someone else's build, and it is logged.
id2=$(asf "$alice" submit 23.11 --recipe hello --variant slow --detach) || fail "second submit"
sf cancel "$id2" > /dev/null || fail "root could not cancel $alice's build"
wait_state "$id2" BUILD_STATE_CANCELLED 60
grep -q "cancel.*$id2\|$id2.*cancel" "$DAEMON_LOG" || fail "admin cancel is not in the daemon log"
log "passed"
