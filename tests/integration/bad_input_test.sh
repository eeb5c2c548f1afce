#!/usr/bin/env bash
# Bad input gets a clear message and the documented exit code, and loses
# nothing already stored.
source "$(dirname "$0")/lib.sh"

# A broken config names the file and line; sfactoryd exits 2.
printf 'listen: [unix:%s]\nmax_parallel_builds: lots\n' "$SOCK" > "$TEST_TMP/bad.yaml"
rc=0; "$SFACTORYD" --config "$TEST_TMP/bad.yaml" > "$TEST_TMP/bad.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "a bad config value exited $rc, not 2"
grep -q "bad.yaml:2" "$TEST_TMP/bad.out" || fail "the config error does not name file and line"
printf 'colour: red\n' > "$TEST_TMP/bad2.yaml"
rc=0; "$SFACTORYD" --config "$TEST_TMP/bad2.yaml" > "$TEST_TMP/bad2.out" 2>&1 || rc=$?
# shellcheck disable=SC2015  # fail unless both hold
[ "$rc" = 2 ] && grep -q "unknown key 'colour'" "$TEST_TMP/bad2.out" || fail "an unknown config key is not rejected"
# The provider's own section is checked too, for every provider and for
# --show-config, before anything starts.
printf 'provider: local\nlxd:\n  cpus: 2\n  colour: red\n' > "$TEST_TMP/bad3.yaml"
for args in "" "--show-config"; do
  rc=0; "$SFACTORYD" --config "$TEST_TMP/bad3.yaml" $args > "$TEST_TMP/bad3.out" 2>&1 || rc=$?
  # shellcheck disable=SC2015  # fail unless both hold
  [ "$rc" = 2 ] && grep -q "bad3.yaml:4.*colour" "$TEST_TMP/bad3.out" \
    || fail "a bad lxd: key ($args) exited $rc: $(cat "$TEST_TMP/bad3.out")"
done

# No daemon: exit 3 naming the address.
expect_exit 3 sf info
grep -q "$SOCK" "$TEST_TMP/last.err" || fail "the unreachable message does not name the address"

# No downloads: the catalog's URLs include deb.debian.org, which this
# machine may reach, and the missing-source case below must stay missing.
write_config "allow_downloads: false"
start_daemon
seed_hello
good=$(sf submit 24.11 --recipe hello --detach)
wait_state "$good" BUILD_STATE_SUCCEEDED

expect_exit 2 sf submit 19.05 --recipe hello
grep -q "24.11" "$TEST_TMP/last.err" || fail "unknown version message does not list known series"
expect_exit 2 sf submit '24.11;rm -rf /' --recipe hello
expect_exit 2 sf submit 24.11 --recipe '../../etc'
# shellcheck disable=SC2016  # a literal $(id): the daemon must reject it, not run it
expect_exit 2 sf submit 24.11 --recipe hello --variant 'gpu$(id)'
expect_exit 2 sf submit 24.11 --recipe hello --variant gpu
grep -q "no variant 'gpu'" "$TEST_TMP/last.err" || fail "unknown variant message unclear"
expect_exit 2 sf submit 24.11 --recipe nosuch
expect_exit 2 sf submit 24.11 --recipe hello --no-such-flag
expect_exit 5 sf status bnosuchbld
expect_exit 2 sf cancel "$good"
grep -q "succeeded" "$TEST_TMP/last.err" || fail "cancelling a finished build does not say why it cannot"

# A source whose digest the catalog knows must match it.
head -c 1000 /dev/urandom > "$TEST_TMP/slurm-wlm_24.11.5.orig.tar.gz"
expect_exit 2 sf sources add "$TEST_TMP/slurm-wlm_24.11.5.orig.tar.gz"
grep -q "e1a5547edd212c38" "$TEST_TMP/last.err" || fail "the digest mismatch does not name the expected digest"
sf sources list | grep -q "slurm-wlm_24.11.5" && fail "a mismatching source was stored"

# A missing source fails the build with what to do.
expect_exit 1 sf submit 24.11 --recipe native --no-verify
grep -q "sfactory sources add" "$TEST_TMP/last.err" "$TEST_TMP/last.out" || fail "the missing-source error does not say how to seed it"

# Nothing stored was lost along the way.
[ "$(state_of "$good")" = BUILD_STATE_SUCCEEDED ] || fail "the good build changed state"
sf fetch "$good" -o "$TEST_TMP/out" > /dev/null
log "ok"
