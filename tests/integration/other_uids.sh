# Helpers for tests that run the client as other uids (source after lib.sh,
# as root): copies what those uids run out of the (maybe 0700) source tree
# and defines
#   as USER command...    runs it as USER with only what a login would have
#   asf USER args...      sfactory as USER
#   probe USER args...    tests/integration/grpc_probe.py (Python grpcio) as USER
# Each USER gets $TEST_TMP/home-USER as HOME and TMPDIR.

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
