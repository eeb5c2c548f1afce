#!/usr/bin/env bash
# Sources nobody can poison, through a gRPC client the project did not write
# (Python grpcio), as an admin (root), who may add names the catalog lacks:
#  - other bytes under a catalog name are refused (the catalog's digest);
#  - a stored name is never re-pointed (ALREADY_EXISTS with both digests);
#  - an upload that is cancelled halfway, an empty one, one over
#    max_source_size and one shorter than its header said store nothing;
#  - the build log and the manifest record the digest of the source used.
# After every refusal the stored sources are exactly what they were.
source "$(dirname "$0")/lib.sh"

for tool in /usr/bin/python3 protoc grpc_python_plugin; do
  command -v "$tool" > /dev/null || skip "$tool is not installed (scripts/install-test-tools.sh)"
done
/usr/bin/python3 -c 'import grpc' 2> /dev/null || skip "python3-grpcio is not installed"

write_config "max_source_size: 1MiB"
start_daemon
seed_hello
PROTO="$SFACTORY_SOURCE_DIR/proto/sfactory/v1/sfactory.proto"
probe() {
  /usr/bin/python3 "$SFACTORY_SOURCE_DIR/tests/integration/grpc_probe.py" --proto "$PROTO" \
    --unix "$SOCK" "$@"
}
stored() { probe list-sources; }
before=$(stored) || fail "list-sources: $before"
blob="$TEST_TMP/blob"
head -c 300000 /dev/urandom > "$blob"
expect_refused() {  # CODE probe-args...
  local code=$1 out
  shift
  out=$(probe "$@") && fail "accepted: probe $*: $out"
  [[ "$out" == "ERROR $code"* ]] || fail "probe $*: wanted $code, got: $out"
  [ "$(stored)" = "$before" ] || fail "stored sources changed after: probe $*"
  echo "$out"
}

# Other bytes under a catalog name, from root too.
out=$(expect_refused INVALID_ARGUMENT add-source slurm-wlm_24.11.5.orig.tar.gz "$blob")
grep -q e1a5547edd212c38b5e3230a284133f777b32746551f094aaa81cc4af375e332 <<< "$out" ||
  fail "the catalog digest is not named: $out"

# Re-pointing a stored name.
hello_sha=$(sha256sum "$SF_TEST_FIXTURE" | cut -d' ' -f1)
blob_sha=$(sha256sum "$blob" | cut -d' ' -f1)
out=$(expect_refused ALREADY_EXISTS add-source "$(basename "$SF_TEST_FIXTURE")" "$blob")
if ! grep -q "$hello_sha" <<< "$out" || ! grep -q "$blob_sha" <<< "$out"; then
  fail "both digests are not named: $out"
fi

# Cut, empty, too big, shorter than announced.
expect_refused CANCELLED add-source cut-1.0.tar.gz "$blob" --chunk 65536 --cut-after 2 > /dev/null
: > "$TEST_TMP/empty"
expect_refused INVALID_ARGUMENT add-source empty-1.0.tar.gz "$TEST_TMP/empty" > /dev/null
head -c 1500000 /dev/urandom > "$TEST_TMP/big"
out=$(expect_refused RESOURCE_EXHAUSTED add-source big-1.0.tar.gz "$TEST_TMP/big")
grep -q max_source_size <<< "$out" || fail "the cap's key is not named: $out"
out=$(expect_refused RESOURCE_EXHAUSTED add-source big-1.0.tar.gz "$blob" --size 2000000)
expect_refused INVALID_ARGUMENT add-source short-1.0.tar.gz "$blob" --size 300001 > /dev/null
# Nothing of the refused uploads is left in the cache directory.
leftover=$(find "$STATE" -name '*.part' | head -n1)
[ -z "$leftover" ] || fail "a temporary upload was left: $leftover"

# The same bytes again under the stored name are fine (idempotent).
out=$(probe add-source "$(basename "$SF_TEST_FIXTURE")" "$SF_TEST_FIXTURE") || fail "re-add: $out"

# The digest of the source used is in the build log and the manifest.
id=$(sf submit 24.11.6 --recipe hello --detach) || fail "submit"
wait_state "$id" BUILD_STATE_SUCCEEDED 120
sf logs "$id" | grep -q "source .*sha256 $hello_sha" || fail "the log does not record the source digest"
log "passed"
