#include "client/settings.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "absl/strings/match.h"
#include "client/credentials.h"
#include "client_test_util.h"
#include "common/fs.h"

namespace sfactory::client::testing {
namespace {
namespace fs = std::filesystem;

// A temp dir standing in for $HOME, with `~/.config/sfactory/client.yaml`.
struct Home {
  TempDir dir = NewTempDir("sfactory-settings-test-");

  fs::path Write(const std::string& relative, const std::string& text, int mode = 0600) {
    fs::path p = dir.path() / relative;
    REQUIRE(MakeDirs(p.parent_path()).ok());
    REQUIRE(WriteFileAtomic(p, text, mode).ok());
    REQUIRE(::chmod(p.c_str(), static_cast<mode_t>(mode)) == 0);
    return p;
  }
  fs::path Config(const std::string& text) { return Write(".config/sfactory/client.yaml", text); }
  FakeEnv Env(FakeEnv more = {}) {
    more.emplace("HOME", dir.path().string());
    return more;
  }
};

ConnectionSettings Resolve(const SettingFlags& flags, const FakeEnv& env) {
  absl::StatusOr<ConnectionSettings> s = ResolveSettings(flags, EnvOf(env));
  INFO(s.status().message());
  REQUIRE(s.ok());
  return *s;
}

TEST_CASE("ResolveSettings takes the flag over the environment over the config file", "[client]") {
  Home home;
  home.Config("address: file.example.org:7443\nca_file: /etc/file-ca.pem\n");
  SettingFlags none;
  ConnectionSettings s = Resolve(none, home.Env());
  CHECK(s.address.value == "file.example.org:7443");
  CHECK(s.address.source == SettingSource::kConfigFile);
  CHECK(Contains(s.address.origin, "client.yaml:1"));
  CHECK(s.ca_file.value == "/etc/file-ca.pem");
  CHECK(Contains(s.ca_file.origin, "client.yaml:2"));

  s = Resolve(none, home.Env({{"SFACTORY_ADDRESS", "env.example.org:7443"},
                              {"SFACTORY_CA_FILE", "/etc/env-ca.pem"}}));
  CHECK(s.address.value == "env.example.org:7443");
  CHECK(s.address.source == SettingSource::kEnv);
  CHECK(s.ca_file.value == "/etc/env-ca.pem");

  SettingFlags flags;
  flags.address = "/tmp/flag.sock";
  flags.ca_file = "/etc/flag-ca.pem";
  s = Resolve(flags, home.Env({{"SFACTORY_ADDRESS", "env.example.org:7443"},
                               {"SFACTORY_CA_FILE", "/etc/env-ca.pem"}}));
  CHECK(s.address.value == "unix:/tmp/flag.sock");
  CHECK(s.address.origin == "--address");
  CHECK(s.ca_file.value == "/etc/flag-ca.pem");
}

TEST_CASE("ResolveSettings falls back to the default socket without any setting", "[client]") {
  Home home;
  ConnectionSettings s = Resolve({}, home.Env());
  CHECK(s.address.source == SettingSource::kDefault);
  CHECK(s.address.value == DefaultAddress());
  CHECK(absl::StartsWith(s.address.value, "unix:"));
  CHECK(s.config_file.empty());
}

TEST_CASE("ResolveSettings finds the config file by --config, SFACTORY_CLIENT_CONFIG and XDG",
          "[client]") {
  Home home;
  fs::path xdg = home.Write("xdg/sfactory/client.yaml", "address: xdg:1\n");
  fs::path env = home.Write("env.yaml", "address: env:1\n");
  fs::path flag = home.Write("flag.yaml", "address: flag:1\n");
  home.Config("address: home:1\n");
  FakeEnv vars = home.Env();
  CHECK(Resolve({}, vars).address.value == "home:1");
  vars["XDG_CONFIG_HOME"] = (home.dir.path() / "xdg").string();
  CHECK(Resolve({}, vars).address.value == "xdg:1");
  vars["SFACTORY_CLIENT_CONFIG"] = env.string();
  CHECK(Resolve({}, vars).address.value == "env:1");
  SettingFlags flags;
  flags.config = flag.string();
  ConnectionSettings s = Resolve(flags, vars);
  CHECK(s.address.value == "flag:1");
  CHECK(s.config_file == flag.string());
}

TEST_CASE("ResolveSettings reads config paths relative to the file and ~ as HOME", "[client]") {
  Home home;
  home.Config("ca_file: certs/ca.pem\ntoken_file: ~/secret/token\ncert_file: /abs/cert.pem\n");
  ConnectionSettings s = Resolve({}, home.Env());
  CHECK(s.ca_file.value == (home.dir.path() / ".config/sfactory/certs/ca.pem").string());
  CHECK(s.token_file.value == (home.dir.path() / "secret/token").string());
  CHECK(s.cert_file.value == "/abs/cert.pem");
}

TEST_CASE("ResolveSettings names the file and line of an unknown key or malformed YAML",
          "[client]") {
  Home home;
  fs::path config = home.Config("address: a:1\n\ntoken: sft1_inline\n");
  absl::StatusOr<ConnectionSettings> s = ResolveSettings({}, EnvOf(home.Env()));
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(s.status().message(), config.string() + ":3:"));
  CHECK(Contains(s.status().message(), "unknown key 'token'"));

  home.Config("address: [a:1\n");
  s = ResolveSettings({}, EnvOf(home.Env()));
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(s.status().message(), config.string() + ":"));

  home.Config("address:\n  - a:1\n");
  s = ResolveSettings({}, EnvOf(home.Env()));
  REQUIRE_FALSE(s.ok());
  CHECK(Contains(s.status().message(), config.string() + ":2:"));
}

TEST_CASE("a config error exits 2 naming the file, and a named missing file is an error",
          "[client]") {
  Home home;
  fs::path config = home.Config("adress: a:1\n");
  RunResult r = RunClient("", {"info"}, {home.Env()});
  CHECK(r.code == 2);
  CHECK(Contains(r.err, config.string() + ":1:"));

  r = RunClient("", {"info", "--config", (home.dir.path() / "nope.yaml").string()}, {home.Env()});
  CHECK(r.code == 2);
  CHECK(Contains(r.err, "nope.yaml (from --config) does not exist"));
}

TEST_CASE("token sources: --token-file, then SFACTORY_TOKEN_FILE, SFACTORY_TOKEN, config",
          "[client]") {
  Home home;
  home.Config("token_file: /from/config\n");
  ConnectionSettings s = Resolve({}, home.Env());
  CHECK(s.token_file.value == "/from/config");
  CHECK(s.token.empty());

  s = Resolve({}, home.Env({{"SFACTORY_TOKEN", "sft1_env"}}));
  CHECK(s.token.value == "sft1_env");
  CHECK(s.token_file.empty());

  s = Resolve({}, home.Env({{"SFACTORY_TOKEN", "sft1_env"}, {"SFACTORY_TOKEN_FILE", "/env/file"}}));
  CHECK(s.token.empty());
  CHECK(s.token_file.value == "/env/file");

  SettingFlags flags;
  flags.token_file = "/flag/file";
  s = Resolve(flags, home.Env({{"SFACTORY_TOKEN", "sft1_env"}, {"SFACTORY_TOKEN_FILE", "/e"}}));
  CHECK(s.token.empty());
  CHECK(s.token_file.value == "/flag/file");
  CHECK(s.token_file.origin == "--token-file");
}

TEST_CASE("ReadTokenFile trims the newline and warns about a file others can read", "[client]") {
  Home home;
  fs::path token = home.Write("token", "sft1_abc\n", 0600);
  std::ostringstream warnings;
  absl::StatusOr<std::string> t = ReadTokenFile(token, "--token-file", warnings);
  REQUIRE(t.ok());
  CHECK(*t == "sft1_abc");
  CHECK(warnings.str().empty());

  home.Write("token", "sft1_abc\r\n", 0644);
  t = ReadTokenFile(token, "--token-file", warnings);
  REQUIRE(t.ok());
  CHECK(*t == "sft1_abc");
  CHECK(Contains(warnings.str(), "readable by others (mode 0644)"));
  CHECK(Contains(warnings.str(), "chmod 600"));

  home.Write("token", "\n", 0600);
  CHECK(ReadTokenFile(token, "--token-file", warnings).status().code() ==
        absl::StatusCode::kInvalidArgument);
  home.Write("token", "sft1_a sft1_b\n", 0600);
  CHECK(ReadTokenFile(token, "--token-file", warnings).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("LoadChannelSecurity refuses to send a token over a plaintext unix socket", "[client]") {
  Home home;
  fs::path token = home.Write("token", "sft1_abc\n");
  std::ostringstream warnings;
  for (const FakeEnv& env : {home.Env({{"SFACTORY_TOKEN", "sft1_abc"}}),
                             home.Env({{"SFACTORY_TOKEN_FILE", token.string()}})}) {
    ConnectionSettings s = Resolve({}, [&] {
      FakeEnv e = env;
      e["SFACTORY_ADDRESS"] = "/run/sfactory/sfactoryd.sock";
      return e;
    }());
    absl::StatusOr<ChannelSecurity> sec = LoadChannelSecurity(s, warnings);
    REQUIRE_FALSE(sec.ok());
    CHECK(sec.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(Contains(sec.status().message(), "refusing to send the token"));
    CHECK(Contains(sec.status().message(), "plaintext unix socket"));
  }
  // Through Run: exit 2, before any connection is tried.
  RunResult r = RunClient("/nonexistent/sfactoryd.sock", {"info"},
                          {home.Env({{"SFACTORY_TOKEN", "sft1_abc"}})});
  CHECK(r.code == 2);
  CHECK(Contains(r.err, "refusing to send the token from SFACTORY_TOKEN"));

  // A config file's token belongs to its TCP address: only the address
  // moving to a socket leaves it out quietly.
  home.Config("address: build.example.org:7443\ntoken_file: " + token.string() + "\n");
  SettingFlags flags;
  flags.address = "/run/sfactory/sfactoryd.sock";
  absl::StatusOr<ChannelSecurity> sec = LoadChannelSecurity(Resolve(flags, home.Env()), warnings);
  REQUIRE(sec.ok());
  CHECK_FALSE(sec->tls);
  CHECK(sec->token.empty());
}

TEST_CASE("LoadChannelSecurity speaks TLS to host:port and reads the files it names", "[client]") {
  Home home;
  fs::path ca = home.Write("ca.pem", "CA PEM");
  fs::path cert = home.Write("cert.pem", "CERT PEM");
  fs::path key = home.Write("key.pem", "KEY PEM");
  fs::path token = home.Write("token", "sft1_abc\n");
  SettingFlags flags;
  flags.address = "build.example.org:7443";
  flags.ca_file = ca.string();
  flags.token_file = token.string();
  std::ostringstream warnings;
  absl::StatusOr<ChannelSecurity> sec = LoadChannelSecurity(Resolve(flags, home.Env()), warnings);
  REQUIRE(sec.ok());
  CHECK(sec->tls);
  CHECK(sec->root_certs == "CA PEM");
  CHECK(sec->token == "sft1_abc");
  CHECK(sec->cert_chain.empty());

  flags.cert_file = cert.string();
  sec = LoadChannelSecurity(Resolve(flags, home.Env()), warnings);
  REQUIRE_FALSE(sec.ok());
  CHECK(Contains(sec.status().message(), "mutual TLS needs both"));
  flags.key_file = key.string();
  sec = LoadChannelSecurity(Resolve(flags, home.Env()), warnings);
  REQUIRE(sec.ok());
  CHECK(sec->cert_chain == "CERT PEM");
  CHECK(sec->private_key == "KEY PEM");

  flags.ca_file = (home.dir.path() / "missing.pem").string();
  sec = LoadChannelSecurity(Resolve(flags, home.Env()), warnings);
  REQUIRE_FALSE(sec.ok());
  CHECK(Contains(sec.status().message(), "--ca-file: "));
}

}  // namespace
}  // namespace sfactory::client::testing
