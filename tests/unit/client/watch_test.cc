// logs and submit: following a build's log across broken streams.
#include <catch2/catch.hpp>
#include <memory>
#include <thread>

#include "absl/time/clock.h"

#include "client_test_util.h"
#include "fake_daemon.h"

namespace sfactory::client::testing {
namespace {

std::string Log(size_t lines) {
  std::string log;
  for (size_t i = 0; i < lines; ++i) log += "==> line " + std::to_string(i) + " of the build\n";
  return log;
}

void AddRunningBuild(FakeDaemon& daemon, const std::string& id, const std::string& log) {
  daemon.With([&](FakeState& s) {
    s.builds[id] = MakeBuild(id, v1::BUILD_STATE_RUNNING);
    s.logs[id] = log;
    s.chunk_size = 97;
  });
}

TEST_CASE("logs prints the log as it is, from an offset", "[client]") {
  FakeDaemon daemon;
  const std::string log = Log(50);
  AddRunningBuild(daemon, "b1", log);

  RunResult all = RunClient(daemon.address(), {"logs", "b1"});
  REQUIRE(all.code == 0);
  CHECK(all.out == log);

  RunResult tail = RunClient(daemon.address(), {"logs", "b1", "--offset", "1000"});
  REQUIRE(tail.code == 0);
  CHECK(tail.out == log.substr(1000));
}

TEST_CASE("logs escapes control characters on a terminal and passes them into a pipe", "[client]") {
  FakeDaemon daemon;
  // ESC (clear screen), BEL, CR, and the C1 CSI split across two chunks.
  const std::string log = "ok\x1b[2J\a\rtitle\n\tindented \xc3\xa9 csi\xc2\x9b!\n";
  AddRunningBuild(daemon, "b1", log);
  daemon.With([&](FakeState& s) { s.chunk_size = log.find('\x9b'); });

  RunResult piped = RunClient(daemon.address(), {"logs", "b1"});
  REQUIRE(piped.code == 0);
  CHECK(piped.out == log);

  RunSetup terminal;
  terminal.out_is_terminal = true;
  RunResult shown = RunClient(daemon.address(), {"logs", "b1"}, terminal);
  REQUIRE(shown.code == 0);
  CHECK(shown.out == "ok\\x1b[2J\\x07\\x0dtitle\n\tindented \xc3\xa9 csi\\xc2\\x9b!\n");
}

TEST_CASE("logs --follow resumes from the last offset after the stream breaks, without duplicates",
          "[client]") {
  FakeDaemon daemon;
  const std::string log = Log(200);
  AddRunningBuild(daemon, "b1", log);
  daemon.With([](FakeState& s) {
    s.watch_cuts = 2;
    s.watch_cut_after = 1234;
    s.watch_resend = 50;  // the daemon re-sends bytes the client already has
  });

  RunResult r = RunClient(daemon.address(), {"logs", "b1", "--follow"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out == log);
  CHECK(daemon.Snapshot().watch_offsets == std::vector<uint64_t>{0, 1234, 1234 + 1234 - 50});
  CHECK(r.err.find("reconnecting from log offset 1234") != std::string::npos);
}

TEST_CASE("logs --follow carries on across a daemon restart", "[client]") {
  const std::string log = Log(300);
  absl::StatusOr<TempDir> dir = TempDir::Create("sfactory-restart-test-");
  REQUIRE(dir.ok());
  const std::string address = "unix:" + (dir->path() / "sfactoryd.sock").string();
  auto first = std::make_unique<FakeDaemon>(address);
  AddRunningBuild(*first, "b1", log);
  first->With([](FakeState& s) {
    s.watch_cuts = 1;
    s.watch_cut_after = 4000;
    s.watch_hold = true;
  });
  std::unique_ptr<FakeDaemon> second;
  std::thread restarter([&] {
    for (bool holding = false; !holding; absl::SleepFor(absl::Milliseconds(5))) {
      first->With([&](FakeState& s) { holding = s.holding; });
    }
    first.reset();  // stops the server, breaking the open stream
    absl::SleepFor(absl::Milliseconds(100));
    second = std::make_unique<FakeDaemon>(address);
    AddRunningBuild(*second, "b1", log);
  });

  RunResult r = RunClient(address, {"logs", "b1", "--follow"});
  restarter.join();
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out == log);
  CHECK(second->Snapshot().watch_offsets == std::vector<uint64_t>{4000});
}

TEST_CASE("logs --follow gives up when the stream keeps breaking without progress", "[client]") {
  FakeDaemon daemon;
  AddRunningBuild(daemon, "b1", Log(10));
  daemon.With([](FakeState& s) {
    s.watch_cuts = 100;
    s.watch_cut_after = 0;
  });
  RunResult r = RunClient(daemon.address(), {"logs", "b1", "--follow"});
  CHECK(r.code == 3);
}

TEST_CASE("logs of an unknown build exits with the not-found code", "[client]") {
  FakeDaemon daemon;
  RunResult r = RunClient(daemon.address(), {"logs", "nope"});
  CHECK(r.code == 5);
  CHECK(r.err.find("no build") != std::string::npos);
}

void PrepareSubmit(FakeDaemon& daemon, v1::BuildState final_state, const std::string& log) {
  daemon.With([&](FakeState& s) {
    s.submit_response.set_outcome(v1::SUBMIT_OUTCOME_CREATED);
    *s.submit_response.mutable_build() = MakeBuild("b7", v1::BUILD_STATE_QUEUED);
    s.submit_response.mutable_build()->set_queue_position(2);
    s.logs["b7"] = log;
    s.final_state = final_state;
    s.final_error = final_state == v1::BUILD_STATE_FAILED ? "phase build: make exited 2" : "";
  });
}

TEST_CASE("submit prints the id, follows the log and exits 0 when the build succeeds",
          "[client]") {
  FakeDaemon daemon;
  const std::string log = Log(30);
  PrepareSubmit(daemon, v1::BUILD_STATE_SUCCEEDED, log);

  RunResult r = RunClient(daemon.address(), {"submit", "24.11", "--recipe", "native", "--variant",
                                             "gpu", "--priority", "5", "--no-verify"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out == "b7\n" + log);
  CHECK(r.err.find("queued b7 (24.11 → 24.11.5, native") != std::string::npos);
  CHECK(r.err.find("succeeded") != std::string::npos);

  FakeState s = daemon.Snapshot();
  REQUIRE(s.submits.size() == 1);
  const v1::SubmitBuildRequest& req = s.submits[0];
  CHECK(req.spec().slurm_version() == "24.11");
  CHECK(req.spec().recipe() == "native");
  CHECK(req.spec().variants_size() == 1);
  CHECK(req.priority() == 5);
  CHECK(req.no_verify());
  CHECK_FALSE(req.force());
  CHECK_FALSE(req.request_id().empty());  // retries stay idempotent
}

TEST_CASE("submit escapes the followed log on a terminal only", "[client]") {
  FakeDaemon daemon;
  const std::string log = "step\x1b]0;owned\x07 done\n";
  PrepareSubmit(daemon, v1::BUILD_STATE_SUCCEEDED, log);
  RunResult piped = RunClient(daemon.address(), {"submit", "24.11"});
  REQUIRE(piped.code == 0);
  CHECK(piped.out == "b7\n" + log);

  FakeDaemon again;
  PrepareSubmit(again, v1::BUILD_STATE_SUCCEEDED, log);
  RunSetup terminal;
  terminal.out_is_terminal = true;
  RunResult shown = RunClient(again.address(), {"submit", "24.11"}, terminal);
  REQUIRE(shown.code == 0);
  CHECK(shown.out == "b7\nstep\\x1b]0;owned\\x07 done\n");
}

TEST_CASE("submit exits 1 when the build fails and prints the error", "[client]") {
  FakeDaemon daemon;
  PrepareSubmit(daemon, v1::BUILD_STATE_FAILED, Log(3));
  RunResult r = RunClient(daemon.address(), {"submit", "24.11"});
  CHECK(r.code == 1);
  CHECK(r.err.find("make exited 2") != std::string::npos);
}

TEST_CASE("submit exits 4 when the build is cancelled", "[client]") {
  FakeDaemon daemon;
  PrepareSubmit(daemon, v1::BUILD_STATE_CANCELLED, Log(3));
  RunResult r = RunClient(daemon.address(), {"submit", "24.11"});
  CHECK(r.code == 4);
}

TEST_CASE("submit --detach prints the build id and returns", "[client]") {
  FakeDaemon daemon;
  PrepareSubmit(daemon, v1::BUILD_STATE_FAILED, Log(3));
  RunResult r = RunClient(daemon.address(),
                          {"submit", "24.11", "--detach", "--request-id", "ci-42", "--force"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "b7\n");
  FakeState s = daemon.Snapshot();
  CHECK(s.watch_offsets.empty());
  CHECK(s.submits.at(0).request_id() == "ci-42");
  CHECK(s.submits.at(0).force());
}

TEST_CASE("submit survives a broken log stream without losing or repeating bytes", "[client]") {
  FakeDaemon daemon;
  const std::string log = Log(100);
  PrepareSubmit(daemon, v1::BUILD_STATE_SUCCEEDED, log);
  daemon.With([](FakeState& s) {
    s.watch_cuts = 1;
    s.watch_cut_after = 777;
    s.watch_resend = 100;
  });
  RunResult r = RunClient(daemon.address(), {"submit", "24.11"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "b7\n" + log);
}

TEST_CASE("submit --fetch waits for the build and fetches its artifacts", "[client]") {
  FakeDaemon daemon;
  PrepareSubmit(daemon, v1::BUILD_STATE_SUCCEEDED, Log(3));
  daemon.AddSucceededBuild("b7", {{"slurm.tar.zst", std::string(10000, 'x')}});
  daemon.With([](FakeState& s) { s.builds["b7"].set_state(v1::BUILD_STATE_QUEUED); });
  absl::StatusOr<TempDir> out = TempDir::Create("sfactory-submit-test-");
  REQUIRE(out.ok());

  RunResult r = RunClient(daemon.address(), {"submit", "24.11", "--fetch", out->path().string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(ReadFile(out->path() / "slurm.tar.zst").value() == std::string(10000, 'x'));
  CHECK(r.out.find((out->path() / "slurm.tar.zst").string()) != std::string::npos);
}

TEST_CASE("submit of a build that already succeeded reports it without replaying its log",
          "[client]") {
  FakeDaemon daemon;
  daemon.AddSucceededBuild("b1", {});
  daemon.With([](FakeState& s) {
    s.logs["b1"] = "old log\n";
    s.submit_response.set_outcome(v1::SUBMIT_OUTCOME_REUSED);
    *s.submit_response.mutable_build() = s.builds["b1"];
  });
  RunResult r = RunClient(daemon.address(), {"submit", "24.11"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "b1\n");
  CHECK(r.err.find("reused b1") != std::string::npos);
  CHECK(daemon.Snapshot().watch_offsets.empty());
}

TEST_CASE("submit rejects --detach together with --fetch", "[client]") {
  RunResult r = RunClient("unix:/nonexistent", {"submit", "24.11", "--detach", "--fetch", "x"});
  CHECK(r.code == 2);
}

}  // namespace
}  // namespace sfactory::client::testing
