#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/fs.h"
#include "common/subprocess.h"
#include "tests/test_dir.h"

namespace sfactory {
namespace {

SubprocessOptions Shell(const std::string& script) {
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", script};
  o.env = ScrubbedEnv();
  return o;
}

TEST_CASE("RunToSink returns the child's exit code and its output", "[common][subprocess]") {
  for (int code : {0, 1, 3, 255}) {
    Capture out;
    auto rc = RunToSink(Shell("echo hi; exit " + std::to_string(code)), out.Fn());
    REQUIRE(rc.ok());
    CHECK(*rc == code);
    CHECK(out.text() == "hi\n");
  }
}

TEST_CASE("RunToSink reports a child killed by a signal as 128 + the signal",
          "[common][subprocess]") {
  Capture out;
  auto killed = RunToSink(Shell("echo before; kill -KILL $$; echo after"), out.Fn());
  REQUIRE(killed.ok());
  CHECK(*killed == 128 + SIGKILL);
  CHECK(out.text() == "before\n");
  auto termed = RunToSink(Shell("kill -TERM $$"), out.Fn());
  REQUIRE(termed.ok());
  CHECK(*termed == 128 + SIGTERM);
}

TEST_CASE("RunToSink names a missing program in a NotFound error", "[common][subprocess]") {
  Capture out;
  SubprocessOptions o;
  o.argv = {"/nonexistent/sf-no-such-program", "arg"};
  o.env = ScrubbedEnv();
  auto rc = RunToSink(o, out.Fn());
  REQUIRE(!rc.ok());
  CHECK(rc.status().code() == absl::StatusCode::kNotFound);
  CHECK(absl::StrContains(rc.status().message(), "/nonexistent/sf-no-such-program"));
  CHECK(out.text().empty());
}

TEST_CASE("RunToSink refuses options that bring their own output fd", "[common][subprocess]") {
  Capture out;
  SubprocessOptions o = Shell("true");
  o.output_fd = 1;
  CHECK(RunToSink(o, out.Fn()).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("RunToSink waits for a child that closed its output early", "[common][subprocess]") {
  Capture out;
  auto rc = RunToSink(Shell("echo before; exec >/dev/null 2>&1; sleep 0.3; exit 4"), out.Fn());
  REQUIRE(rc.ok());
  CHECK(*rc == 4);
  CHECK(out.text() == "before\n");
}

TEST_CASE("RunToSink tells on_start the child's pid before it pumps", "[common][subprocess]") {
  Capture out;
  RunToSinkOptions run;
  pid_t started = -1;
  run.on_start = [&](const Subprocess& child) { started = child.pid(); };
  auto rc = RunToSink(Shell("echo $$"), out.Fn(), run);
  REQUIRE(rc.ok());
  CHECK(out.text() == std::to_string(started) + "\n");
}

TEST_CASE("RunToSink with a kill grace sends SIGTERM first, SIGKILL after the grace",
          "[common][subprocess]") {
  CancelToken cancel;
  Capture out;
  RunToSinkOptions run;
  run.cancel = &cancel;
  run.kill_grace = absl::Milliseconds(500);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel.Cancel();
  });
  absl::Time start = absl::Now();
  auto rc =
      RunToSink(Shell("trap 'echo got TERM' TERM; while :; do sleep 0.05; done"), out.Fn(), run);
  absl::Duration took = absl::Now() - start;
  canceller.join();
  REQUIRE(!rc.ok());
  CHECK(rc.status().code() == absl::StatusCode::kCancelled);
  CHECK(absl::StrContains(rc.status().message(), "/bin/sh"));
  CHECK(absl::StrContains(out.text(), "got TERM"));
  CHECK(took >= absl::Milliseconds(600));
  CHECK(took < absl::Seconds(5));
}

TEST_CASE("RunToSink stops reading a pipe held by an escaped process after the drain time",
          "[common][subprocess]") {
  testing::ScratchDir dir;
  std::string pid_file = (dir.path() / "escaped.pid").string();
  Capture out;
  RunToSinkOptions run;
  run.drain_after_exit = absl::Milliseconds(300);
  absl::Time start = absl::Now();
  std::string escape = "setsid sh -c 'echo $$ > " + pid_file + "; echo escaped; exec sleep 30' &";
  std::string wait = "while [ ! -s " + pid_file + " ]; do sleep 0.02; done";
  auto rc = RunToSink(Shell(escape + "\n" + wait + "\nexit 5"), out.Fn(), run);
  absl::Duration took = absl::Now() - start;
  auto pid = ReadFile(pid_file);
  if (pid.ok()) ::kill(std::stoi(*pid), SIGKILL);
  REQUIRE(rc.ok());
  CHECK(*rc == 5);
  CHECK(absl::StrContains(out.text(), "escaped\n"));
  CHECK(took < absl::Seconds(5));
}

}  // namespace
}  // namespace sfactory
