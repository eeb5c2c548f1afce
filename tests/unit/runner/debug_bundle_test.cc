#include "daemon/runner/debug_bundle.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/subprocess.h"
#include "tests/fake_provider.h"
#include "tests/test_dir.h"

namespace sfactory::runner {
namespace {

namespace fs = std::filesystem;
using Scratch = ::sfactory::testing::ScratchDir;

TEST_CASE("IsSecretName matches TOKEN, SECRET, PASSWORD and KEY in any case", "[runner][debug]") {
  for (const char* name : {"GITHUB_TOKEN", "api_token", "AWS_SECRET_ACCESS_KEY", "db_password",
                           "SSH_KEY", "key_file", "Secret"}) {
    INFO(name);
    CHECK(IsSecretName(name));
  }
  for (const char* name : {"PATH", "SF_WORK", "HOME", "TOKE", "PASSWD_HINT_NONE", ""}) {
    INFO(name);
    CHECK(!IsSecretName(name));
  }
}

TEST_CASE("RedactEnv hides secret values and keeps every line one entry", "[runner][debug]") {
  CHECK(RedactEnv({"PATH=/usr/bin", "MY_TOKEN=abc", "NOTE=two\nlines", "SECRET_EMPTY=",
                   "NOVALUE"}) ==
        "PATH=/usr/bin\nMY_TOKEN=<redacted>\nNOTE=two\\nlines\nSECRET_EMPTY=<redacted>\n"
        "NOVALUE\n");
}

TEST_CASE("RedactConfigText hides secret keys, also inside flow mappings", "[runner][debug]") {
  const std::string text =
      "state_dir: /var/lib/sfactory    # default\n"
      "api_token: t0ps3cret    # file /etc/sfactory/sfactoryd.yaml\n"
      "lxd: {url: https://lxd:8443, trust_password: hunter2, nested: {client_key: k3y}}    # "
      "file /etc/sfactory/sfactoryd.yaml\n"
      "tls: {cert_file: /etc/cert.pem, key_file: /etc/key.pem}    # default\n"
      "admins: {users: [root], groups: []}    # default\n";
  const std::string out = RedactConfigText(text);
  INFO(out);
  CHECK(absl::StrContains(out, "state_dir: /var/lib/sfactory    # default\n"));
  CHECK(absl::StrContains(out, "api_token: <redacted>    # file /etc/sfactory/sfactoryd.yaml\n"));
  CHECK(absl::StrContains(out, "url: https://lxd:8443"));
  CHECK(absl::StrContains(out, "trust_password: <redacted>"));
  CHECK(absl::StrContains(out, "client_key: <redacted>"));
  CHECK(absl::StrContains(out, "cert_file: /etc/cert.pem"));
  CHECK(absl::StrContains(out, "key_file: <redacted>"));
  CHECK(absl::StrContains(out, "admins: {users: [root], groups: []}    # default\n"));
  for (const char* secret : {"t0ps3cret", "hunter2", "k3y", "/etc/key.pem"}) {
    INFO(secret);
    CHECK(!absl::StrContains(out, secret));
  }
}

TEST_CASE("WithEnvCapture saves the environment at exit and keeps the exit code and line numbers",
          "[runner][debug]") {
  Scratch tmp;
  const fs::path env_file = tmp.path() / "env";
  const fs::path script = tmp.path() / "s.sh";
  REQUIRE(WriteFileAtomic(script, WithEnvCapture("export LATE_SETTING=42\nno_such_cmd_xyz\n",
                                                 env_file.string()))
              .ok());
  Capture out;
  SubprocessOptions opts;
  opts.argv = {"/bin/bash", "-eo", "pipefail", script.string()};
  opts.env = ScrubbedEnv();
  auto code = RunToSink(std::move(opts), out.Fn(), {});
  REQUIRE(code.ok());
  CHECK(*code == 127);
  CHECK(absl::StrContains(out.text(), "line 2: no_such_cmd_xyz"));
  auto env = ReadFile(env_file);
  REQUIRE(env.ok());
  CHECK(absl::StrContains(*env, std::string("LATE_SETTING=42\0", 16)));
}

struct Drop : provider::OutputSink {
  void Write(absl::string_view) override {}
};

// A build's spec, for the fake provider.
v1::Build FakeBuild() {
  v1::Build b;
  b.set_id("b9");
  b.mutable_spec()->set_slurm_version("24.11.5");
  b.mutable_spec()->set_recipe("t");
  b.mutable_spec()->set_os("debian-12");
  b.mutable_spec()->set_arch("x86_64");
  return b;
}

recipe::Recipe FakeRecipe() {
  recipe::Recipe r;
  r.name = "t";
  r.phases = {{"configure", "./configure --prefix=/opt/{{ series }}\n"},
              {"broken", "echo {{ nope }}\n"}};
  r.verify = {{"smoke", "true\n"}};
  r.debug_files = {"**/config.log"};
  return r;
}

TEST_CASE("CollectDebug without an instance writes what it has and notes the rest",
          "[runner][debug]") {
  Scratch tmp;
  testing::FakeProvider provider;
  provider::CancelToken cancel;
  v1::Build build = FakeBuild();
  recipe::Recipe recipe = FakeRecipe();
  DebugInput in;
  in.build = &build;
  in.recipe = &recipe;
  in.vars = {{"series", "24.11"}};
  in.env = {"SF_SERIES=24.11", "SF_UPLOAD_KEY=k"};
  in.error = "instance: LXD said no";
  in.log_path = tmp.path() / "missing.log";
  in.effective_config = "state_dir: /x    # default\n";
  CollectDebug(in, provider, nullptr, cancel, tmp.path() / "b9.debug");

  const fs::path top = tmp.path() / "b9.debug" / "b9-debug";
  CHECK(*ReadFile(top / "scripts/01-configure.sh") == "./configure --prefix=/opt/24.11\n");
  CHECK(!fs::exists(top / "scripts/02-broken.sh"));
  CHECK(*ReadFile(top / "scripts/03-smoke.sh") == "true\n");
  CHECK(*ReadFile(top / "env.txt") == "SF_SERIES=24.11\nSF_UPLOAD_KEY=<redacted>\n");
  CHECK(!fs::exists(top / "env-at-exit.txt"));
  CHECK(absl::StrContains(*ReadFile(top / "image.txt"), "provider: fake"));
  CHECK(absl::StrContains(*ReadFile(top / "build.json"), "\"id\": \"b9\""));
  CHECK(fs::exists(top / "config.txt"));
  const std::string readme = *ReadFile(top / "README.txt");
  INFO(readme);
  CHECK(absl::StrContains(readme, "error: instance: LXD said no"));
  CHECK(absl::StrContains(readme, "could not read the build log"));
  CHECK(absl::StrContains(readme, "could not render broken: broken: unknown placeholder"));
  CHECK(absl::StrContains(readme, "no build instance (it was never created): no debug_files"));
}

TEST_CASE("CollectDebug turns an instance's unusable answers into notes", "[runner][debug]") {
  Scratch tmp;
  testing::FakeProvider provider;
  provider::CancelToken cancel;
  provider::InstanceRequest ir;
  ir.build_id = "b9";
  Drop drop;
  auto instance = provider.Create(ir, drop, cancel);
  REQUIRE(instance.ok());
  v1::Build build = FakeBuild();
  recipe::Recipe recipe = FakeRecipe();
  REQUIRE(WriteFileAtomic(tmp.path() / "b9.log", "==> [1/2] sources\nok\n==> [2/2] configure\nbad\n")
              .ok());
  DebugInput in;
  in.build = &build;
  in.recipe = &recipe;
  in.log_path = tmp.path() / "b9.log";
  // The fake's Exec prints "fake phase NAME" instead of a file list, and
  // its PullFile gives "tree" for any path.
  CollectDebug(in, provider, instance->get(), cancel, tmp.path() / "b9.debug");
  const fs::path top = tmp.path() / "b9.debug" / "b9-debug";
  CHECK(*ReadFile(top / "failed-step.log") == "==> [2/2] configure\nbad\n");
  const std::string readme = *ReadFile(top / "README.txt");
  INFO(readme);
  CHECK(absl::StrContains(readme, "skipped an unusable debug_files entry"));
  CHECK(absl::StrContains(readme, "the daemon's effective config was not given"));
  CHECK(!fs::exists(top / "files"));
  CHECK(absl::StrContains(*ReadFile(top / "image.txt"), "fake phase package-list"));
  REQUIRE(provider.Destroy(std::move(*instance)).ok());
}

}  // namespace
}  // namespace sfactory::runner
