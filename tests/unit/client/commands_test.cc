// The command table, --json, and the commands that print daemon data.
#include <catch2/catch.hpp>

#include "client_test_util.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "fake_daemon.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sfactory::client::testing {
namespace {

// Parses all of `text` as one JSON document into `message`.
template <typename Message>
bool ParsesAs(const std::string& text, Message* message) {
  return google::protobuf::util::JsonStringToMessage(text, message).ok();
}

TEST_CASE("help prints the command table and the exit codes", "[client]") {
  for (const char* arg : {"help", "--help", "-h"}) {
    RunResult r = RunClient("", {arg});
    REQUIRE(r.code == 0);
    for (const char* cmd : {"submit <version>", "list", "status <build>", "logs <build>",
                            "cancel <build>", "fetch <build>", "info", "sources add <file>",
                            "sources list", "images list", "images rebuild", "images prune"}) {
      CHECK(Contains(r.out, cmd));
    }
    CHECK(Contains(r.out, "exit codes"));
    CHECK(Contains(r.out, "70  internal"));
  }
}

TEST_CASE("help shows how to connect: address, CA, token sources, config file", "[client]") {
  RunResult r = RunClient("", {"--help"});
  REQUIRE(r.code == 0);
  for (const char* text :
       {"whoami", "tokens create <name>", "tokens list", "tokens revoke <name>", "--address",
        "SFACTORY_ADDRESS", "--ca-file", "SFACTORY_CA_FILE", "--token-file", "SFACTORY_TOKEN_FILE",
        "SFACTORY_TOKEN", "--cert-file", "--key-file", "--config", "SFACTORY_CLIENT_CONFIG",
        "client.yaml", "TLS", "not authenticated"}) {
    INFO(text);
    CHECK(Contains(r.out, text));
  }
}

TEST_CASE("a command's --help prints its flags", "[client]") {
  RunResult r = RunClient("", {"submit", "--help"});
  REQUIRE(r.code == 0);
  for (const char* flag : {"--recipe", "--variant", "--detach", "--priority", "--force",
                           "--request-id", "--fetch", "--no-verify", "--keep-instance-on-failure",
                           "--address", "--json"}) {
    CHECK(Contains(r.out, flag));
  }
  CHECK(RunClient("", {"help", "images", "prune"}).out == RunClient("", {"images", "prune", "-h"}).out);
}

TEST_CASE("usage errors exit with the bad-input code", "[client]") {
  CHECK(RunClient("", {}).code == 2);
  CHECK(RunClient("", {"frobnicate"}).code == 2);
  CHECK(RunClient("", {"status"}).code == 2);
  CHECK(RunClient("", {"status", "b1", "b2"}).code == 2);
  CHECK(RunClient("", {"info", "extra"}).code == 2);
  CHECK(RunClient("", {"images"}).code == 2);
  RunResult r = RunClient("", {"list", "--bogus"});
  CHECK(r.code == 2);
  CHECK(Contains(r.err, "unknown flag --bogus"));
  CHECK(r.out.empty());
  CHECK(RunClient("", {"list", "--state", "exploded"}).code == 2);
  CHECK(RunClient("", {"list", "--limit", "0"}).code == 2);
}

TEST_CASE("an unreachable daemon exits with code 3 and names the address", "[client]") {
  absl::StatusOr<TempDir> dir = TempDir::Create("sfactory-unreachable-");
  REQUIRE(dir.ok());
  const std::string address = "unix:" + (dir->path() / "missing.sock").string();
  RunResult r = RunClient(address, {"status", "b1"});
  CHECK(r.code == 3);
  CHECK(Contains(r.err, address));
  CHECK(Contains(r.err, "systemctl start sfactoryd"));
  CHECK(Contains(r.err, "SFACTORY_ADDRESS"));
  CHECK(r.out.empty());
}

TEST_CASE("common flags may come before the command", "[client]") {
  FakeDaemon daemon;
  daemon.AddSucceededBuild("b1", {});
  RunResult r = RunClient("", {"--address", daemon.address(), "--json", "status", "b1"});
  REQUIRE(r.code == 0);
  v1::Build b;
  CHECK(ParsesAs(r.out, &b));

  // Any common flag with a value, e.g. a client config naming the address.
  TempDir dir = NewTempDir("sfactory-leading-test-");
  const std::string config = (dir.path() / "client.yaml").string();
  REQUIRE(WriteFileAtomic(config, "address: " + daemon.address() + "\n").ok());
  r = RunClient("", {"--config", config, "status", "b1"});
  CHECK(r.code == 0);
}

TEST_CASE("every command with --json prints one JSON document and nothing else on stdout", "[client]") {
  FakeDaemon daemon;
  daemon.AddSucceededBuild("b1", {{"a.tar.gz", "hello"}});
  daemon.With([](FakeState& s) {
    s.builds["b2"] = MakeBuild("b2", v1::BUILD_STATE_RUNNING);
    s.logs["b1"] = "log \xff bytes\n";
    s.submit_response.set_outcome(v1::SUBMIT_OUTCOME_REUSED);
    *s.submit_response.mutable_build() = s.builds["b1"];
  });

  SECTION("status") {
    RunResult r = RunClient(daemon.address(), {"status", "b1", "--json"});
    REQUIRE(r.code == 0);
    v1::Build b;
    REQUIRE(ParsesAs(r.out, &b));
    CHECK(b.id() == "b1");
    CHECK(b.artifacts_size() == 1);
    CHECK(Contains(r.out, "\"queue_position\""));  // defaults are printed, proto names kept
  }
  SECTION("list") {
    RunResult r = RunClient(daemon.address(), {"list", "--json"});
    REQUIRE(r.code == 0);
    v1::ListBuildsResponse list;
    REQUIRE(ParsesAs(r.out, &list));
    CHECK(list.builds_size() == 2);
  }
  SECTION("info") {
    RunResult r = RunClient(daemon.address(), {"info", "--json"});
    REQUIRE(r.code == 0);
    v1::ServerInfo info;
    REQUIRE(ParsesAs(r.out, &info));
    CHECK(info.provider() == "local");
  }
  SECTION("submit waits and prints the final build only") {
    RunResult r = RunClient(daemon.address(), {"submit", "24.11", "--json"});
    REQUIRE(r.code == 0);
    v1::Build b;
    REQUIRE(ParsesAs(r.out, &b));
    CHECK(b.state() == v1::BUILD_STATE_SUCCEEDED);
    CHECK(Contains(r.err, "reused b1"));
  }
  SECTION("submit --detach prints the submit response") {
    RunResult r = RunClient(daemon.address(), {"submit", "24.11", "--json", "--detach"});
    REQUIRE(r.code == 0);
    v1::SubmitBuildResponse resp;
    REQUIRE(ParsesAs(r.out, &resp));
    CHECK(resp.outcome() == v1::SUBMIT_OUTCOME_REUSED);
  }
  SECTION("logs, with invalid UTF-8 replaced") {
    RunResult r = RunClient(daemon.address(), {"logs", "b1", "--json"});
    REQUIRE(r.code == 0);
    google::protobuf::Struct doc;
    REQUIRE(ParsesAs(r.out, &doc));
    CHECK(doc.fields().at("log").string_value() == "log \xEF\xBF\xBD bytes\n");
    CHECK(doc.fields().at("next_offset").number_value() == 12);
  }
  SECTION("fetch") {
    absl::StatusOr<TempDir> out = TempDir::Create("sfactory-json-test-");
    REQUIRE(out.ok());
    RunResult r = RunClient(daemon.address(), {"fetch", "b1", "-o", out->path().string(), "--json"});
    REQUIRE(r.code == 0);
    google::protobuf::Struct doc;
    REQUIRE(ParsesAs(r.out, &doc));
    const auto& fetched = doc.fields().at("fetched").list_value().values(0).struct_value().fields();
    CHECK(fetched.at("sha256").string_value() == Sha256Hex("hello"));
    CHECK(fetched.at("path").string_value() == (out->path() / "a.tar.gz").string());
  }
  SECTION("images list") {
    RunResult r = RunClient(daemon.address(), {"images", "list", "--json"});
    REQUIRE(r.code == 0);
    v1::ListBaseImagesResponse images;
    REQUIRE(ParsesAs(r.out, &images));
    CHECK(images.images_size() == 1);
  }
}

TEST_CASE("list --all pages through every build", "[client]") {
  FakeDaemon daemon;
  daemon.With([](FakeState& s) {
    for (int i = 0; i < 7; ++i) {
      std::string id = "b" + std::to_string(i);
      s.builds[id] = MakeBuild(id, i % 2 ? v1::BUILD_STATE_FAILED : v1::BUILD_STATE_SUCCEEDED);
    }
    s.list_page_size = 3;
  });
  RunResult one_page = RunClient(daemon.address(), {"list"});
  REQUIRE(one_page.code == 0);
  CHECK(Contains(one_page.err, "--page-token 3"));
  CHECK(Contains(one_page.out, "ID"));
  CHECK(Contains(one_page.out, "24.11 → 24.11.5"));

  RunResult all = RunClient(daemon.address(), {"list", "--all", "--json"});
  REQUIRE(all.code == 0);
  v1::ListBuildsResponse list;
  REQUIRE(ParsesAs(all.out, &list));
  CHECK(list.builds_size() == 7);
  CHECK(list.next_page_token().empty());

  RunResult failed = RunClient(daemon.address(), {"list", "--all", "--state", "failed", "--json"});
  REQUIRE(ParsesAs(failed.out, &list));
  CHECK(list.builds_size() == 3);
}

TEST_CASE("status prints aligned fields, phases and artifacts", "[client]") {
  FakeDaemon daemon;
  daemon.AddSucceededBuild("b1", {{"slurm-software.tar.zst", "abc"}});
  daemon.With([](FakeState& s) {
    v1::PhaseTiming* p = s.builds["b1"].add_phases();
    p->set_name("build");
    p->set_seconds(187);
    p->set_result("ok");
  });
  RunResult r = RunClient(daemon.address(), {"status", "b1"});
  REQUIRE(r.code == 0);
  CHECK(Contains(r.out, "state:     succeeded"));
  CHECK(Contains(r.out, "duration:  5m00s"));
  CHECK(Contains(r.out, "3m07s"));
  CHECK(Contains(r.out, "slurm-software.tar.zst"));
}

TEST_CASE("info prints the provider, capacity, recipes and Slurm versions", "[client]") {
  FakeDaemon daemon;
  RunResult r = RunClient(daemon.address(), {"info"});
  REQUIRE(r.code == 0);
  CHECK(Contains(r.out, "sfactoryd 0.1.0-fake"));
  CHECK(Contains(r.out, "1 running, 3 queued, at most 2 in parallel"));
  CHECK(Contains(r.out, "native"));
  CHECK(Contains(r.out, "24.11.5"));
}

TEST_CASE("cancel maps the daemon's refusal to exit codes", "[client]") {
  FakeDaemon daemon;
  daemon.With([](FakeState& s) {
    s.builds["mine"] = MakeBuild("mine", v1::BUILD_STATE_RUNNING);
    s.builds["theirs"] = MakeBuild("theirs", v1::BUILD_STATE_RUNNING);
    s.builds["theirs"].set_owner("bob");
  });
  RunResult ok = RunClient(daemon.address(), {"cancel", "mine", "--reason", "wrong version"});
  CHECK(ok.code == 0);
  CHECK(daemon.Snapshot().builds["mine"].error() == "wrong version");
  CHECK(RunClient(daemon.address(), {"cancel", "theirs"}).code == 6);
  CHECK(RunClient(daemon.address(), {"cancel", "nobody"}).code == 5);
  CHECK(RunClient(daemon.address(), {"images", "prune", "--all"}).code == 6);
}

TEST_CASE("sources add streams the file with its digest", "[client]") {
  FakeDaemon daemon;
  absl::StatusOr<TempDir> dir = TempDir::Create("sfactory-sources-test-");
  REQUIRE(dir.ok());
  const std::string content(3 << 20, 's');  // three upload chunks
  const auto file = dir->path() / "slurm-24.11.5.tar.bz2";
  REQUIRE(WriteFileAtomic(file, content).ok());

  RunResult r = RunClient(daemon.address(),
                          {"sources", "add", file.string(), "--sha256", Sha256Hex(content)});
  INFO(r.err);
  REQUIRE(r.code == 0);
  FakeState s = daemon.Snapshot();
  REQUIRE(s.uploaded.size() == 1);
  CHECK(s.uploaded[0] == content);
  CHECK(s.upload_headers[0].name() == "slurm-24.11.5.tar.bz2");
  CHECK(s.upload_headers[0].size() == content.size());

  RunResult wrong = RunClient(daemon.address(),
                              {"sources", "add", file.string(), "--sha256", Sha256Hex("x")});
  CHECK(wrong.code == 7);
  CHECK(RunClient(daemon.address(), {"sources", "add", (dir->path() / "none").string()}).code == 5);

  RunResult list = RunClient(daemon.address(), {"sources", "list"});
  CHECK(Contains(list.out, "slurm-24.11.5.tar.bz2"));
}

}  // namespace
}  // namespace sfactory::client::testing
