#!/usr/bin/env bash
# TCP on 127.0.0.1 with TLS, with a CA, server and client certificates made
# here with openssl, called by the sfactory CLI and by Python grpcio:
#  - a valid token works, and the caller is the token's user;
#  - no token, a wrong token, a revoked token and an expired token are
#    UNAUTHENTICATED (the CLI exits 6 and says what to do);
#  - plaintext to the TLS port fails;
#  - a client certificate signed by tls.client_ca_file is an identity (its CN);
#  - a TCP listener without TLS is a config error naming file and line;
#  - the CI example in docs/CI.md (docs/examples/sfactory_ci.py) builds and
#    fetches over TLS with a token.
source "$(dirname "$0")/lib.sh"

for tool in openssl /usr/bin/python3 protoc grpc_python_plugin; do
  command -v "$tool" > /dev/null || skip "$tool is not installed (scripts/install-test-tools.sh)"
done
/usr/bin/python3 -c 'import grpc' 2> /dev/null || skip "python3-grpcio is not installed"

PKI="$TEST_TMP/pki"
mkdir -p "$PKI"
(
  cd "$PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sfactory test CA" \
    -keyout ca.key -out ca.pem 2> /dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key \
    -out server.csr 2> /dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.pem 2> /dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=ci-runner-7" -keyout client.key \
    -out client.csr 2> /dev/null
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -out client.pem 2> /dev/null
  # A client certificate from a CA the daemon does not trust.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=root" \
    -keyout rogue.key -out rogue.pem 2> /dev/null
) || fail "openssl could not make the test certificates"

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDR="127.0.0.1:$port"

# A TCP listener without TLS is refused, naming the file and line.
write_config "listen: [unix:$SOCK, $ADDR]"
if "$SFACTORYD" --config "$TEST_TMP/sfactoryd.yaml" > "$TEST_TMP/notls.out" 2>&1; then
  fail "sfactoryd started with a plaintext TCP listener"
fi
grep -q "sfactoryd.yaml:[0-9]" "$TEST_TMP/notls.out" || fail "no file:line in: $(cat "$TEST_TMP/notls.out")"

write_config "listen: [unix:$SOCK, $ADDR]" \
  "tls: {cert_file: $PKI/server.pem, key_file: $PKI/server.key, client_ca_file: $PKI/ca.pem}"
start_daemon
seed_hello

PROTO="$SFACTORY_SOURCE_DIR/proto/sfactory/v1/sfactory.proto"
probe() { /usr/bin/python3 "$SFACTORY_SOURCE_DIR/tests/integration/grpc_probe.py" --proto "$PROTO" "$@"; }
tls() { probe --address "$ADDR" --ca-file "$PKI/ca.pem" "$@"; }

# Tokens are made by an admin (root on the socket) and printed once.
good=$(sf tokens create ci-good --user ci-bot) || fail "tokens create"
[[ "$good" =~ ^sft1_ ]] || fail "token looks like: ${good:0:12}..."
revoked=$(sf tokens create ci-revoked --user ci-bot) || fail "tokens create (2)"
expiring=$(sf tokens create ci-expiring --user ci-bot --expires 1s) || fail "tokens create (3)"
grep -qF "$good" "$DAEMON_LOG" && fail "a token secret is in the daemon log"
sf tokens list > "$TEST_TMP/tokens.out" || fail "tokens list"
grep -q ci-good "$TEST_TMP/tokens.out" || fail "tokens list: $(cat "$TEST_TMP/tokens.out")"
sf tokens revoke ci-revoked > /dev/null || fail "tokens revoke"
sleep 1.5

# A valid token: the caller is its user.
out=$(tls --token "$good" whoami) || fail "valid token: $out"
[[ "$out" == "OK name=ci-bot via=token admin=false" ]] || fail "valid token: $out"
printf '%s\n' "$good" > "$TEST_TMP/token" && chmod 600 "$TEST_TMP/token"
SFACTORY_ADDRESS="$ADDR" sf --ca-file "$PKI/ca.pem" --token-file "$TEST_TMP/token" whoami \
  > "$TEST_TMP/whoami.out" || fail "sfactory whoami over TLS"
grep -q ci-bot "$TEST_TMP/whoami.out" || fail "whoami over TLS: $(cat "$TEST_TMP/whoami.out")"

# No token, a wrong one, a revoked one and an expired one.
for t in "" "sft1_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "$revoked" "$expiring" "garbage"; do
  if [ -n "$t" ]; then out=$(tls --token "$t" whoami); else out=$(tls whoami); fi &&
    fail "accepted token '${t:0:10}...': $out"
  [[ "$out" == "ERROR UNAUTHENTICATED"* ]] || fail "token '${t:0:10}...': $out"
done
expect_exit 6 env SFACTORY_ADDRESS="$ADDR" SFACTORY_CA_FILE="$PKI/ca.pem" "$SFACTORY" list
grep -qi "token" "$TEST_TMP/last.err" || fail "no hint about tokens: $(cat "$TEST_TMP/last.err")"

# Plaintext to the TLS port fails; a forged identity header means nothing.
out=$(probe --address "$ADDR" --plaintext --header sfactory-user=root whoami) &&
  fail "plaintext call succeeded: $out"

# Mutual TLS: the certificate's CN is the caller; an untrusted CA is not.
out=$(tls --cert-file "$PKI/client.pem" --key-file "$PKI/client.key" whoami) || fail "mTLS: $out"
[[ "$out" == "OK name=ci-runner-7 via=certificate admin=false" ]] || fail "mTLS: $out"
out=$(tls --cert-file "$PKI/rogue.pem" --key-file "$PKI/rogue.key" whoami) &&
  fail "a certificate from an unknown CA was accepted: $out"

# A token caller is not an admin unless the token says so.
out=$(tls --token "$good" submit 24.11.6 --recipe hello --priority 50) && fail "priority: $out"
[[ "$out" == "ERROR PERMISSION_DENIED"* ]] || fail "priority over TLS: $out"

# The CI example, as a CI engineer would run it.
SFACTORY_TOKEN="$good" /usr/bin/python3 "$SFACTORY_SOURCE_DIR/docs/examples/sfactory_ci.py" \
  --address "$ADDR" --ca-file "$PKI/ca.pem" --proto "$PROTO" --recipe hello \
  --out "$TEST_TMP/ci-out" 24.11.6 > "$TEST_TMP/ci.out" 2>&1 ||
  { cat "$TEST_TMP/ci.out" >&2; fail "docs/examples/sfactory_ci.py failed"; }
[ -n "$(find "$TEST_TMP/ci-out" -mindepth 1 -print -quit)" ] || fail "the CI example fetched nothing"
grep -qF "$good" "$TEST_TMP/ci.out" && fail "the CI example printed the token"
log "passed"
