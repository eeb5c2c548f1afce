// The --progress displays, driven with Build events as the daemon sends them.
#include "client/progress.h"

#include <catch2/catch.hpp>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sfactory::client {
namespace {

const std::vector<std::string> kPlan = {"sources", "instance", "configure", "make", "store"};

v1::PhaseTiming Timing(const std::string& name, double seconds, const std::string& result = "ok") {
  v1::PhaseTiming t;
  t.set_name(name);
  t.set_seconds(seconds);
  t.set_result(result);
  return t;
}

// The Build event the daemon sends as step `running` starts, after `done`.
v1::Build Running(const std::string& running, const std::vector<v1::PhaseTiming>& done,
                  absl::Time since) {
  v1::Build b;
  b.set_id("b7");
  b.set_state(v1::BUILD_STATE_RUNNING);
  b.mutable_spec()->set_slurm_version("24.11.7");
  b.mutable_spec()->set_recipe("native");
  b.mutable_spec()->set_os("debian-12");
  b.mutable_spec()->set_arch("x86_64");
  b.set_current_phase(running);
  b.mutable_current_phase_started_at()->set_seconds(absl::ToUnixSeconds(since));
  b.mutable_started_at()->set_seconds(absl::ToUnixSeconds(since) - 30);
  for (const auto& p : kPlan) b.add_planned_phases(p);
  for (const auto& d : done) *b.add_phases() = d;
  return b;
}

v1::Build Ended(v1::BuildState state, const std::vector<v1::PhaseTiming>& phases) {
  v1::Build b = Running("", {}, absl::FromUnixSeconds(1000));
  b.set_state(state);
  b.clear_current_phase();
  b.clear_planned_phases();
  b.clear_current_phase_started_at();
  b.mutable_finished_at()->set_seconds(1100);
  for (const auto& p : phases) *b.add_phases() = p;
  if (state == v1::BUILD_STATE_FAILED) b.set_error("phase make exited with code 2");
  return b;
}

struct Screen {
  std::ostringstream out, err;
  absl::Time now = absl::FromUnixSeconds(2000);

  std::unique_ptr<Progress> Make(ProgressMode mode, StepEstimates estimates = {}) {
    ProgressOptions o;
    o.mode = mode;
    o.out = &out;
    o.err = &err;
    o.build_id = "b7";
    o.estimates = std::move(estimates);
    o.width = 100;
    o.height = 40;
    o.tick = absl::ZeroDuration();
    o.now = [this] { return now; };
    return MakeProgress(std::move(o));
  }

  // What the terminal shows: the text after the last redraw's cursor-up,
  // with the control sequences taken out.
  std::string LastFrame() const {
    std::string text = err.str();
    size_t at = text.rfind("F");  // ESC [ n F: back to the frame's first line
    size_t esc = text.rfind("\x1b[", at);
    if (at != std::string::npos && esc != std::string::npos && at > esc) text = text.substr(at + 1);
    std::string clean;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\x1b') {
        while (i < text.size() && !std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
        continue;
      }
      clean.push_back(text[i]);
    }
    return clean;
  }
};

TEST_CASE("progress modes parse, and auto picks tty only on two terminals", "[client][progress]") {
  CHECK(*ParseProgressMode("rawjson") == ProgressMode::kRawJson);
  auto bad = ParseProgressMode("fancy");
  REQUIRE(!bad.ok());
  CHECK(absl::StrContains(bad.status().message(), "auto, tty, plain, rawjson, quiet"));
  CHECK(ResolveProgressMode(ProgressMode::kAuto, true, true, "xterm") == ProgressMode::kTty);
  CHECK(ResolveProgressMode(ProgressMode::kAuto, false, true, "xterm") == ProgressMode::kPlain);
  CHECK(ResolveProgressMode(ProgressMode::kAuto, true, false, "xterm") == ProgressMode::kPlain);
  CHECK(ResolveProgressMode(ProgressMode::kAuto, true, true, "dumb") == ProgressMode::kPlain);
  CHECK(ResolveProgressMode(ProgressMode::kQuiet, true, true, "xterm") == ProgressMode::kQuiet);
}

TEST_CASE("tty shows every step: done with times, running with its log, pending with estimates",
          "[client][progress]") {
  Screen s;
  StepEstimates est;
  est.from_build = "b3";
  est.seconds = {{"sources", 0.2}, {"instance", 5}, {"configure", 80}, {"make", 200}, {"store", 1}};
  auto p = s.Make(ProgressMode::kTty, est);
  const absl::Time since = s.now - absl::Seconds(42);
  p->OnBuild(Running("configure", {Timing("sources", 0.1), Timing("instance", 12)}, since));
  REQUIRE(p->OnLog("==> [3/5] configure (started now)\nchecking for gcc... gcc\nchecking size").ok());
  p->OnNote("reconnected");
  const std::string frame = s.LastFrame();
  INFO(frame);
  CHECK(absl::StrContains(frame, "[+] b7: Slurm 24.11.7 (native, debian-12/x86_64)  running 1m12s, about 3m59s left"));
  CHECK(absl::StrContains(frame, " => [1/5] sources      0.1s"));
  CHECK(absl::StrContains(frame, " => [2/5] instance    12.0s"));
  CHECK(absl::StrContains(frame, " => [3/5] configure   42.0s  (last time 1m20s)"));
  CHECK(absl::StrContains(frame, "      | checking for gcc... gcc"));
  CHECK(absl::StrContains(frame, "      | checking size"));
  CHECK(!absl::StrContains(frame, "==> [3/5]"));  // the step header is not a log line here
  CHECK(absl::StrContains(frame, "    [4/5] make       ~3m20s"));
  CHECK(absl::StrContains(frame, "    [5/5] store       ~1.0s"));
  // 38 s left of configure, then 200 + 1.
  CHECK(absl::StrContains(frame, "about 3m59s left"));
  CHECK(absl::StrContains(frame, "note: reconnected"));
  // Nothing reached stdout: the view is on stderr.
  CHECK(s.out.str().empty());
}

TEST_CASE("tty after a failure: the failing step's last lines and what to run next",
          "[client][progress]") {
  Screen s;
  auto p = s.Make(ProgressMode::kTty);
  p->OnBuild(Running("make", {Timing("sources", 0.1), Timing("instance", 1), Timing("configure", 9)},
                     s.now));
  std::string log = "==> [4/5] make (started now)\n";
  for (int i = 1; i <= 60; ++i) log += "cc -c file" + std::to_string(i) + ".c\n";
  log += "file60.c:3: error: expected ';'\n==> make: failed (3.0 s)\n";
  REQUIRE(p->OnLog(log).ok());
  REQUIRE(p->Finish(Ended(v1::BUILD_STATE_FAILED,
                          {Timing("sources", 0.1), Timing("instance", 1), Timing("configure", 9),
                           Timing("make", 3, "failed")}))
              .ok());
  const std::string text = s.err.str();
  INFO(text);
  CHECK(absl::StrContains(text, " !> [4/5] make         3.0s  FAILED"));
  CHECK(absl::StrContains(text, "    [5/5] store           -"));
  CHECK(absl::StrContains(text, "--- the last 40 lines of step make ---"));
  CHECK(absl::StrContains(text, "file60.c:3: error: expected ';'"));
  CHECK(absl::StrContains(text, "cc -c file23.c\n"));
  CHECK(!absl::StrContains(text, "cc -c file22.c\n"));  // only the last 40
  CHECK(absl::StrContains(text, "the whole log:   sfactory logs b7"));
  CHECK(absl::StrContains(text, "a debug bundle:  sfactory debug b7 -o b7-debug.tar.gz"));
  CHECK(absl::EndsWith(text, "b7-debug.tar.gz\n"));
}

TEST_CASE("tty on a short terminal folds the done steps and keeps the running one",
          "[client][progress]") {
  Screen s;
  ProgressOptions o;
  o.mode = ProgressMode::kTty;
  o.out = &s.out;
  o.err = &s.err;
  o.build_id = "b7";
  o.width = 60;
  o.height = 6;
  o.tick = absl::ZeroDuration();
  o.now = [&] { return s.now; };
  auto p = MakeProgress(std::move(o));
  p->OnBuild(Running("make", {Timing("sources", 1), Timing("instance", 2), Timing("configure", 3)},
                     s.now));
  REQUIRE(p->OnLog(std::string(200, 'x') + "\n").ok());
  const std::string frame = s.LastFrame();
  INFO(frame);
  std::vector<std::string> lines = absl::StrSplit(frame, '\n', absl::SkipEmpty());
  CHECK(lines.size() <= 5);
  CHECK(absl::StrContains(frame, "steps done in 6.0s"));
  CHECK(absl::StrContains(frame, "[4/5] make"));
  for (const std::string& l : lines) CHECK(l.size() <= 59);
}

TEST_CASE("rawjson: one object a line, step starts and ends, contiguous log offsets",
          "[client][progress]") {
  Screen s;
  auto p = s.Make(ProgressMode::kRawJson);
  p->OnBuild(Running("sources", {}, s.now));
  REQUIRE(p->OnLog("==> [1/5] sources\n").ok());
  p->OnBuild(Running("instance", {Timing("sources", 0.5)}, s.now));
  REQUIRE(p->OnLog("bad \xff byte\n").ok());
  REQUIRE(p->Finish(Ended(v1::BUILD_STATE_SUCCEEDED,
                          {Timing("sources", 0.5), Timing("instance", 2), Timing("configure", 3),
                           Timing("make", 4), Timing("store", 0.1)}))
              .ok());
  std::vector<std::string> lines = absl::StrSplit(s.out.str(), '\n', absl::SkipEmpty());
  std::vector<std::string> events;
  double offset = 0;
  for (const std::string& line : lines) {
    google::protobuf::Struct doc;
    INFO(line);
    REQUIRE(google::protobuf::util::JsonStringToMessage(line, &doc).ok());
    const auto& f = doc.fields();
    CHECK(f.at("build_id").string_value() == "b7");
    CHECK(!f.at("time").string_value().empty());
    std::string event = f.at("event").string_value();
    if (event == "log") {
      CHECK(f.at("offset").number_value() == offset);
      offset += f.at("size").number_value();
    }
    if (event == "step_start" || event == "step_end") {
      event += ":" + f.at("step").string_value();
      CHECK(f.at("total").number_value() == 5);
    }
    if (event == "end") {
      CHECK(f.at("state").string_value() == "succeeded");
      CHECK(f.at("next_offset").number_value() == offset);
    }
    events.push_back(event);
  }
  // Steps that began and ended between two Build events still get a start.
  CHECK(events == std::vector<std::string>{"build", "step_start:sources", "log", "build",
                                           "step_end:sources", "step_start:instance", "log",
                                           "step_end:instance", "step_start:configure",
                                           "step_end:configure", "step_start:make",
                                           "step_end:make", "step_start:store", "step_end:store",
                                           "end"});
}

TEST_CASE("plain prints the log unchanged and a line per change after the first",
          "[client][progress]") {
  Screen s;
  auto p = s.Make(ProgressMode::kPlain);
  p->OnBuild(Running("sources", {}, s.now));
  p->OnBuild(Running("sources", {}, s.now));
  p->OnBuild(Running("instance", {Timing("sources", 1)}, s.now));
  REQUIRE(p->OnLog("line\n").ok());
  REQUIRE(p->Finish(Ended(v1::BUILD_STATE_SUCCEEDED, {})).ok());
  CHECK(s.out.str() == "line\n");
  CHECK(s.err.str() == "[b7] running: instance\n");
}

TEST_CASE("estimates come from the newest succeeded build of the same recipe and OS",
          "[client][progress]") {
  v1::Build now = Running("sources", {}, absl::Now());
  now.mutable_spec()->add_variants("pam");
  auto done = [](const std::string& id, const std::string& recipe, bool pam, double secs) {
    v1::Build b = Ended(v1::BUILD_STATE_SUCCEEDED, {Timing("make", secs)});
    b.set_id(id);
    b.mutable_spec()->set_recipe(recipe);
    if (pam) b.mutable_spec()->add_variants("pam");
    return b;
  };
  StepEstimates e = EstimatesFrom(now, {done("b6", "spack", true, 1), done("b5", "native", false, 2),
                                        done("b4", "native", true, 3)});
  CHECK(e.from_build == "b4");  // same variants wins over newer
  CHECK(e.seconds.at("make") == 3);
  e = EstimatesFrom(now, {done("b6", "spack", true, 1), done("b5", "native", false, 2)});
  CHECK(e.from_build == "b5");
  CHECK(EstimatesFrom(now, {done("b6", "spack", true, 1)}).from_build.empty());
}

TEST_CASE("the fetch meter shows bytes, rate and ETA, and clears its line", "[client][progress]") {
  std::ostringstream out;
  absl::Time now = absl::FromUnixSeconds(100);
  TransferMeter meter(out, [&] { return now; });
  v1::Artifact a;
  a.set_name("slurm-software.tar.zst");
  a.set_size(10 << 20);
  meter.Advance(a, 1 << 20);  // resumed or first chunk: the rate starts here
  now += absl::Seconds(2);
  meter.Advance(a, 5 << 20);  // 4 MiB in 2 s
  now += absl::Milliseconds(10);
  meter.Advance(a, 6 << 20);  // too soon to redraw
  const std::string text = out.str();
  INFO(text);
  CHECK(absl::StrContains(text, "\rslurm-software.tar.zst  5.0 MiB / 10.0 MiB  2.0 MiB/s  ETA 2s"));
  CHECK(!absl::StrContains(text, "6.0 MiB"));
  now += absl::Seconds(1);
  meter.Advance(a, 10 << 20);  // the last byte is always drawn
  CHECK(absl::StrContains(out.str(), "10.0 MiB / 10.0 MiB"));
  meter.Clear();
  CHECK(absl::EndsWith(out.str(), "\r\x1b[K"));
}

}  // namespace
}  // namespace sfactory::client
