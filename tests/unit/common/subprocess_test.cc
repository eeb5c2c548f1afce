#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "common/fs.h"
#include "common/subprocess.h"

namespace sfactory {
namespace {

TEST_CASE("RunCapture returns exit code and interleaved output", "[common][subprocess]") {
  auto r = RunCapture({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  REQUIRE(r.ok());
  CHECK(r->exit_code == 3);
  CHECK(r->output == "out\nerr\n");
}

TEST_CASE("Subprocess environment is exactly what was given", "[common][subprocess]") {
  setenv("SF_LEAK_CHECK", "leaked", 1);
  auto r = RunCapture({"/bin/sh", "-c", "echo \"[$SF_LEAK_CHECK][$MINE]\""},
                      ScrubbedEnv({"MINE=1"}));
  REQUIRE(r.ok());
  CHECK(r->output == "[][1]\n");
}

TEST_CASE("Subprocess reports a missing program as NotFound", "[common][subprocess]") {
  auto r = RunCapture({"/nonexistent/program"});
  CHECK(r.status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("SignalGroup kills the child and its grandchildren", "[common][subprocess]") {
  auto dir = TempDir::Create("sf-sub-");
  REQUIRE(dir.ok());
  std::string pidfile = (dir->path() / "pid").string();
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", "sleep 1000 & echo $! > " + pidfile + "; wait"};
  o.env = ScrubbedEnv();
  auto child = Subprocess::Start(o);
  REQUIRE(child.ok());
  std::string pid;
  for (int i = 0; i < 200 && pid.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto s = ReadFile(pidfile);
    if (s.ok() && s->find('\n') != std::string::npos) pid = *s;
  }
  REQUIRE(!pid.empty());
  child->SignalGroup(SIGTERM);
  auto code = child->Wait();
  REQUIRE(code.ok());
  CHECK(*code == 128 + SIGTERM);
  pid_t grandchild = std::stoi(pid);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = ::kill(grandchild, 0) != 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(gone);
}

}  // namespace
}  // namespace sfactory
