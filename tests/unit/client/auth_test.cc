// whoami and tokens, over the unix socket and over TLS with a bearer token.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client_test_util.h"
#include "common/fs.h"
#include "fake_daemon.h"
#include "tests/skip.h"

namespace sfactory::client::testing {
namespace {
namespace fs = std::filesystem;

TEST_CASE("ParseExpiry takes Nd, Nh, Nm, Ns and never", "[client]") {
  CHECK(*ParseExpiry("90d") == 90 * 86400);
  CHECK(*ParseExpiry("12h") == 12 * 3600);
  CHECK(*ParseExpiry("30m") == 1800);
  CHECK(*ParseExpiry("45s") == 45);
  CHECK(*ParseExpiry("never") == 0);
  for (const char* bad :
       {"", "d", "90", "0d", "-1d", "1.5d", "90w", "d90", " 9d", "99999999999d", "1e3s"}) {
    INFO(bad);
    absl::StatusOr<int64_t> v = ParseExpiry(bad);
    REQUIRE_FALSE(v.ok());
    CHECK(v.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("whoami prints the name, how the daemon knows it, the uid and admin", "[client]") {
  FakeDaemon daemon;
  RunResult r = RunClient(daemon.address(), {"whoami"});
  REQUIRE(r.code == 0);
  CHECK(Contains(r.out, "name:"));
  CHECK(Contains(r.out, "alice"));
  CHECK(Contains(r.out, "unix socket"));
  CHECK(Contains(r.out, "1000"));
  CHECK(Contains(r.out, "admin:  yes"));
  CHECK_FALSE(Contains(r.out, "token:"));
  // Nothing over the socket is a token.
  CHECK(daemon.Snapshot().authorizations == std::vector<std::string>{""});

  daemon.With([](FakeState& s) {
    s.whoami.set_name("ci");
    s.whoami.set_via("token");
    s.whoami.set_uid(0);
    s.whoami.set_admin(false);
    s.whoami.set_token("ci-runner");
  });
  r = RunClient(daemon.address(), {"whoami"});
  REQUIRE(r.code == 0);
  CHECK(Contains(r.out, "bearer token"));
  CHECK(Contains(r.out, "admin:  no"));
  CHECK(Contains(r.out, "ci-runner"));
  CHECK_FALSE(Contains(r.out, "uid:"));
}

TEST_CASE("tokens create prints the token once on stdout and says it cannot be shown again",
          "[client]") {
  FakeDaemon daemon;
  RunResult r = RunClient(daemon.address(),
                          {"tokens", "create", "ci-runner", "--user", "ci", "--expires", "30d"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "sft1_ci-runner_secret\n");
  CHECK(Contains(r.err, "cannot be shown"));
  FakeState s = daemon.Snapshot();
  REQUIRE(s.token_creates.size() == 1);
  CHECK(s.token_creates[0].name() == "ci-runner");
  CHECK(s.token_creates[0].user() == "ci");
  CHECK_FALSE(s.token_creates[0].admin());
  CHECK(s.token_creates[0].expires_in_seconds() == 30 * 86400);

  r = RunClient(daemon.address(), {"tokens", "create", "ops", "--admin", "--expires", "never"});
  REQUIRE(r.code == 0);
  s = daemon.Snapshot();
  CHECK(s.token_creates[1].admin());
  CHECK(s.token_creates[1].expires_in_seconds() == 0);

  r = RunClient(daemon.address(), {"tokens", "create", "x"});  // the default lifetime
  REQUIRE(r.code == 0);
  CHECK(daemon.Snapshot().token_creates[2].expires_in_seconds() == 90 * 86400);

  r = RunClient(daemon.address(), {"tokens", "create", "y", "--expires", "90"});
  CHECK(r.code == 2);
  CHECK(Contains(r.err, "--expires takes Nd"));
}

TEST_CASE("tokens list prints a table and tokens revoke removes one", "[client]") {
  FakeDaemon daemon;
  REQUIRE(RunClient(daemon.address(), {"tokens", "create", "ci-runner", "--expires", "1d"}).code ==
          0);
  REQUIRE(RunClient(daemon.address(), {"tokens", "create", "ops\x1b[2J", "--admin"}).code == 0);
  RunResult r = RunClient(daemon.address(), {"tokens", "list"});
  REQUIRE(r.code == 0);
  for (const char* column :
       {"NAME", "USER", "ADMIN", "CREATED BY", "CREATED", "LAST USED", "EXPIRES"}) {
    CHECK(Contains(r.out, column));
  }
  CHECK(Contains(r.out, "ci-runner"));
  CHECK(Contains(r.out, "never"));        // last used
  CHECK(Contains(r.out, "ops\\x1b[2J"));  // a name cannot clear the screen
  CHECK_FALSE(Contains(r.out, "\x1b"));

  r = RunClient(daemon.address(), {"tokens", "revoke", "ci-runner"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "ci-runner  revoked\n");
  CHECK(daemon.Snapshot().tokens.size() == 1);
  CHECK(RunClient(daemon.address(), {"tokens", "revoke", "ci-runner"}).code == 5);
}

TEST_CASE("a refusal by the daemon exits 6 with the daemon's message", "[client]") {
  FakeDaemon daemon;
  daemon.With([](FakeState& s) { s.admin = false; });
  for (std::vector<std::string> args : {std::vector<std::string>{"tokens", "list"},
                                        {"tokens", "create", "x"},
                                        {"tokens", "revoke", "x"}}) {
    RunResult r = RunClient(daemon.address(), args);
    CHECK(r.code == 6);
    CHECK(Contains(r.err, "only an admin may manage tokens"));
    CHECK(r.out.empty());
  }
}

// A CA, a server certificate for 127.0.0.1 and a client certificate
// (CN ci-bot), made with openssl; empty when openssl is missing.
struct Pki {
  TempDir dir = NewTempDir("sfactory-auth-test-");
  bool ok = false;
  std::string Read(const char* name) {
    absl::StatusOr<std::string> text = ReadFile(dir.path() / name);
    REQUIRE(text.ok());
    return *text;
  }
  fs::path Path(const char* name) const { return dir.path() / name; }

  Pki() {
    const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string script =
        absl::StrCat("cd '", dir.path().string(), "' && {", " openssl req -x509 ", key,
                     " -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca &&", " openssl req ",
                     key, " -keyout server.key -out server.csr -subj /CN=127.0.0.1 &&",
                     " printf 'subjectAltName=IP:127.0.0.1\\n' > san.cnf &&",
                     " openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial",
                     " -out server.pem -days 1 -extfile san.cnf &&", " openssl req ", key,
                     " -keyout client.key -out client.csr -subj /CN=ci-bot &&",
                     " openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial",
                     " -out client.pem -days 1; } >openssl.log 2>&1");
    ok = std::system(script.c_str()) == 0;
  }
};

TEST_CASE("over TLS the client trusts --ca-file and sends the token as a bearer", "[client]") {
  Pki pki;
  if (!pki.ok) SF_SKIP("openssl could not make test certificates (is it installed?)");
  FakeDaemon daemon(FakeTls{pki.Read("server.pem"), pki.Read("server.key"), ""});
  daemon.With([](FakeState& s) { s.required_token = "sft1_good"; });
  TempDir home = NewTempDir("sfactory-auth-test-");
  const fs::path token = home.path() / "token";
  REQUIRE(WriteFileAtomic(token, "sft1_good\n", 0600).ok());

  RunResult r = RunClient(daemon.address(), {"whoami", "--ca-file", pki.Path("ca.pem").string(),
                                             "--token-file", token.string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(daemon.Snapshot().authorizations.back() == "Bearer sft1_good");

  // SFACTORY_TOKEN, and the CA from the environment.
  r = RunClient(
      daemon.address(), {"whoami"},
      {{{"SFACTORY_TOKEN", "sft1_good"}, {"SFACTORY_CA_FILE", pki.Path("ca.pem").string()}}});
  REQUIRE(r.code == 0);

  // No token, or a wrong one: UNAUTHENTICATED says what to do; exit 6.
  r = RunClient(daemon.address(), {"whoami", "--ca-file", pki.Path("ca.pem").string()});
  CHECK(r.code == 6);
  CHECK(Contains(r.err, "the daemon does not know who you are"));
  CHECK(Contains(r.err, "--token-file or SFACTORY_TOKEN"));
  r = RunClient(
      daemon.address(), {"whoami"},
      {{{"SFACTORY_TOKEN", "sft1_bad"}, {"SFACTORY_CA_FILE", pki.Path("ca.pem").string()}}});
  CHECK(r.code == 6);
  CHECK(Contains(r.err, "the token from SFACTORY_TOKEN"));

  // A daemon whose CA is not trusted is not reached (the system CAs do not
  // know the test CA).
  r = RunClient(daemon.address(), {"whoami"}, {{{"SFACTORY_TOKEN", "sft1_good"}}});
  CHECK(r.code == 3);
  CHECK(Contains(r.err, "--ca-file"));
}

TEST_CASE("over mutual TLS the client presents --cert-file and --key-file", "[client]") {
  Pki pki;
  if (!pki.ok) SF_SKIP("openssl could not make test certificates (is it installed?)");
  FakeDaemon daemon(FakeTls{pki.Read("server.pem"), pki.Read("server.key"), pki.Read("ca.pem")});
  TempDir home = NewTempDir("sfactory-auth-test-");
  const fs::path config = home.path() / "client.yaml";
  REQUIRE(
      WriteFileAtomic(config, absl::StrCat("address: ", daemon.address(),
                                           "\nca_file: ", pki.Path("ca.pem").string(),
                                           "\ncert_file: ", pki.Path("client.pem").string(),
                                           "\nkey_file: ", pki.Path("client.key").string(), "\n"))
          .ok());
  RunResult r = RunClient("", {"whoami"}, {{{"SFACTORY_CLIENT_CONFIG", config.string()}}});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(Contains(r.out, "ci-bot"));
  CHECK(Contains(r.out, "client certificate"));
}

}  // namespace
}  // namespace sfactory::client::testing
