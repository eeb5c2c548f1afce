# Helpers for tests that run the client as other uids (source after lib.sh,
# as root): copies what those uids run out of the (maybe 0700) source tree
# and defines
#   as USER command...    runs it as USER with only what a login would have
#   asf USER args...      sfactory as USER
#   probe USER args...    tests/integration/grpc_probe.py (Python grpcio) as USER
# Each USER gets $TEST_TMP/home-USER as HOME and TMPDIR. Skips (77) unless
# root with the tools it needs. `test_users` makes the users.

[ "$(id -u)" -eq 0 ] || skip "needs root to create test users"
for tool in useradd userdel groupadd groupdel setpriv /usr/bin/python3 protoc grpc_python_plugin; do
  command -v "$tool" > /dev/null || skip "$tool is not installed (scripts/install-test-tools.sh)"
done
/usr/bin/python3 -c 'import grpc' 2> /dev/null || skip "python3-grpcio is not installed"

# test_users GROUP MEMBER... [-- OUTSIDER...]: creates GROUP, users in it
# and users outside it; all are removed when the test exits.
TEST_USERS=()
TEST_GROUP=""
remove_test_users() {
  local u
  for u in "${TEST_USERS[@]}"; do userdel "$u" 2> /dev/null || true; done
  [ -z "$TEST_GROUP" ] || groupdel "$TEST_GROUP" 2> /dev/null || true
}
test_users() {
  TEST_GROUP=$1
  shift
  groupadd "$TEST_GROUP"
  local in_group=1 u
  for u in "$@"; do
    if [ "$u" = "--" ]; then in_group=0; continue; fi
    TEST_USERS+=("$u")
    if [ "$in_group" = 1 ]; then
      useradd --no-create-home --shell /usr/sbin/nologin -G "$TEST_GROUP" "$u"
    else
      useradd --no-create-home --shell /usr/sbin/nologin "$u"
    fi
  done
}
# shellcheck disable=SC2154  # sf_rc is set by the trap itself
trap 'sf_rc=$?; remove_test_users; (exit $sf_rc); on_exit' EXIT

chmod 0711 "$TEST_TMP"
mkdir -m 0755 "$TEST_TMP/bin" "$TEST_TMP/probe"
cp "$SFACTORY" "$TEST_TMP/bin/sfactory"
mkdir -p "$TEST_TMP/probe/tests/integration" "$TEST_TMP/probe/docs"
cp -r "$SFACTORY_SOURCE_DIR/docs/examples" "$TEST_TMP/probe/docs/examples"
cp "$SFACTORY_SOURCE_DIR/tests/integration/grpc_probe.py" "$TEST_TMP/probe/tests/integration/"
cp -r "$SFACTORY_SOURCE_DIR/proto" "$TEST_TMP/probe/proto"
chmod -R a+rX "$TEST_TMP/probe"
PROBE="$TEST_TMP/probe/tests/integration/grpc_probe.py"
PROTO="$TEST_TMP/probe/proto/sfactory/v1/sfactory.proto"

as() {
  local user=$1
  shift
  mkdir -p "$TEST_TMP/home-$user" && chown "$user" "$TEST_TMP/home-$user"
  setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups \
    env -i PATH=/usr/bin:/bin HOME="$TEST_TMP/home-$user" TMPDIR="$TEST_TMP/home-$user" \
    SFACTORY_ADDRESS="unix:$SOCK" "$@"
}
asf() { local user=$1; shift; as "$user" "$TEST_TMP/bin/sfactory" "$@"; }
probe() { local user=$1; shift; as "$user" /usr/bin/python3 "$PROBE" --proto "$PROTO" --unix "$SOCK" "$@"; }
