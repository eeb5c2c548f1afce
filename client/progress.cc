#include "client/progress.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/output.h"
#include "common/build_state.h"
#include "common/echo.h"
#include "google/protobuf/util/json_util.h"

namespace sfactory::client {
namespace {

// "0.4s", "12.0s", "3m07s".
std::string StepTime(double seconds) {
  if (seconds < 60) return absl::StrFormat("%.1fs", seconds);
  return HumanDuration(absl::Seconds(seconds));
}

// The steps of a run as far as the Build events tell: the plan, the ones
// finished (with times) and the one running. Shared by tty and rawjson.
class StepTracker {
 public:
  struct Change {
    bool start = false;  // a step started (else: one ended)
    std::string name;
    int index = 0;  // 1-based position in the run
    double seconds = 0;
    std::string result;
    absl::Time time;
  };

  // What `b` says happened since the previous Build, in order.
  std::vector<Change> Update(const v1::Build& b) {
    std::vector<Change> changes;
    if (b.planned_phases_size() > 0) plan_.assign(b.planned_phases().begin(), b.planned_phases().end());
    if (b.state() == v1::BUILD_STATE_RUNNING && b.phases_size() < static_cast<int>(done_.size())) {
      done_.clear();  // a new attempt after a restart
      started_ = 0;
    }
    for (int i = static_cast<int>(done_.size()); i < b.phases_size(); ++i) {
      const v1::PhaseTiming& p = b.phases(i);
      done_.push_back(p);
      // Build events are samples: a short step may start and end between
      // two of them. Its start is reported then, with the daemon's time.
      if (started_ < i + 1) {
        started_ = i + 1;
        changes.push_back({true, p.name(), i + 1, 0, "",
                           IsSet(p.started_at()) ? ToTime(p.started_at()) : absl::InfinitePast()});
      }
      changes.push_back({false, p.name(), i + 1, p.seconds(), p.result(), absl::Now()});
    }
    running_.clear();
    if (b.state() == v1::BUILD_STATE_RUNNING && !b.current_phase().empty()) {
      running_ = b.current_phase();
      running_since_ = IsSet(b.current_phase_started_at()) ? ToTime(b.current_phase_started_at())
                                                           : absl::Now();
      const int index = static_cast<int>(done_.size()) + 1;
      if (started_ < index) {
        started_ = index;
        changes.push_back({true, running_, index, 0, "", running_since_});
      }
    }
    return changes;
  }

  const std::vector<std::string>& plan() const { return plan_; }
  const std::vector<v1::PhaseTiming>& done() const { return done_; }
  const std::string& running() const { return running_; }
  absl::Time running_since() const { return running_since_; }
  int total() const { return static_cast<int>(std::max(plan_.size(), done_.size())); }

 private:
  std::vector<std::string> plan_;
  std::vector<v1::PhaseTiming> done_;
  std::string running_;
  absl::Time running_since_;
  int started_ = 0;  // steps whose start has been reported
};

// The log as lines, keeping the last `keep` lines of the current step: a
// "==> [i/N] name" header line starts a new step.
class StepTail {
 public:
  explicit StepTail(size_t keep) : keep_(keep) {}

  void Add(absl::string_view data) {
    for (char c : data) {
      if (c != '\n') {
        if (partial_.size() < 4096) partial_.push_back(c);
        continue;
      }
      Line(partial_);
      partial_.clear();
    }
  }
  // The kept lines, and the partial last one when there is one.
  std::vector<std::string> Lines(size_t n) const {
    std::vector<std::string> out(lines_.begin(), lines_.end());
    if (!partial_.empty()) out.push_back(partial_);
    if (out.size() > n) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(n));
    return out;
  }
  const std::string& step() const { return step_; }

 private:
  void Line(const std::string& line) {
    absl::string_view l = line;
    if (absl::StartsWith(l, "==> [")) {
      size_t close = l.find("] ");
      if (close != absl::string_view::npos) {
        absl::string_view rest = l.substr(close + 2);
        step_ = std::string(rest.substr(0, rest.find(' ')));
        lines_.clear();
        return;
      }
    }
    lines_.push_back(line);
    while (lines_.size() > keep_) lines_.pop_front();
  }

  size_t keep_;
  std::deque<std::string> lines_;
  std::string partial_;
  std::string step_;
};

// "[b12] running: compile" etc.; only the parts a person needs.
std::string StateLine(const v1::Build& b) {
  std::string line = absl::StrCat("[", b.id(), "] ", StateName(b.state()));
  if (b.state() == v1::BUILD_STATE_QUEUED && b.queue_position() > 0) {
    absl::StrAppend(&line, ", position ", b.queue_position());
  } else if (b.state() == v1::BUILD_STATE_RUNNING && !b.current_phase().empty()) {
    absl::StrAppend(&line, ": ", b.current_phase());
  } else if (IsTerminal(b.state())) {
    absl::StrAppend(&line, " after ", BuildDuration(b));
    if (!b.error().empty()) absl::StrAppend(&line, ": ", b.error());
  }
  if (b.attempt() > 1) absl::StrAppend(&line, " (attempt ", b.attempt(), ")");
  return line;
}

// ---- plain -----------------------------------------------------------------

class PlainProgress : public Progress {
 public:
  explicit PlainProgress(ProgressOptions o)
      : o_(std::move(o)), log_(*o_.out, o_.out_is_terminal) {}

  void OnBuild(const v1::Build& b) override {
    if (!o_.state_lines) return;
    std::tuple<v1::BuildState, std::string, int32_t> now{b.state(), b.current_phase(),
                                                         b.queue_position()};
    // The first Build is the state the caller has already shown.
    const bool first = !shown_;
    shown_ = true;
    if (!first && now == last_) return;
    last_ = now;
    if (!first) *o_.err << StateLine(b) << "\n" << std::flush;
  }
  absl::Status OnLog(absl::string_view data) override { return log_.Write(data); }
  void OnNote(absl::string_view note) override {
    *o_.err << "sfactory: " << note << "\n" << std::flush;
  }
  absl::Status Finish(const v1::Build&) override { return log_.Finish(); }

 private:
  ProgressOptions o_;
  LogWriter log_;
  bool shown_ = false;
  std::tuple<v1::BuildState, std::string, int32_t> last_;
};

// ---- quiet -----------------------------------------------------------------

class QuietProgress : public Progress {
 public:
  void OnBuild(const v1::Build&) override {}
  absl::Status OnLog(absl::string_view) override { return absl::OkStatus(); }
  void OnNote(absl::string_view) override {}
  absl::Status Finish(const v1::Build&) override { return absl::OkStatus(); }
};

// ---- rawjson ---------------------------------------------------------------

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

// One compact JSON object and a newline.
std::string JsonLine(const google::protobuf::Struct& doc) {
  std::string line;
  if (!google::protobuf::util::MessageToJsonString(doc, &line).ok()) {
    return "{\"event\":\"error\",\"message\":\"could not encode an event\"}\n";
  }
  return line + "\n";
}

class RawJsonProgress : public Progress {
 public:
  explicit RawJsonProgress(ProgressOptions o) : o_(std::move(o)), offset_(o_.log_offset) {}

  void OnBuild(const v1::Build& b) override {
    auto doc = Event("build");
    auto& f = *doc.mutable_fields();
    f["state"] = JsonString(StateName(b.state()));
    f["step"] = JsonString(b.current_phase());
    f["attempt"] = JsonNumber(b.attempt());
    f["queue_position"] = JsonNumber(b.queue_position());
    f["log_size"] = JsonNumber(static_cast<double>(b.log_size()));
    Emit(doc);
    EmitSteps(b);
  }

  absl::Status OnLog(absl::string_view data) override {
    auto doc = Event("log");
    auto& f = *doc.mutable_fields();
    f["offset"] = JsonNumber(static_cast<double>(offset_));
    f["size"] = JsonNumber(static_cast<double>(data.size()));
    f["data"] = JsonString(data);
    offset_ += data.size();
    return WriteOut(*o_.out, JsonLine(doc));
  }

  void OnNote(absl::string_view note) override {
    auto doc = Event("note");
    (*doc.mutable_fields())["message"] = JsonString(note);
    Emit(doc);
  }

  absl::Status Finish(const v1::Build& b) override {
    EmitSteps(b);
    auto doc = Event("end");
    auto& f = *doc.mutable_fields();
    f["state"] = JsonString(StateName(b.state()));
    f["error"] = JsonString(b.error());
    f["next_offset"] = JsonNumber(static_cast<double>(offset_));
    google::protobuf::Value artifacts;
    artifacts.mutable_list_value();
    for (const v1::Artifact& a : b.artifacts()) {
      google::protobuf::Value item;
      auto& af = *item.mutable_struct_value()->mutable_fields();
      af["name"] = JsonString(a.name());
      af["kind"] = JsonString(a.kind());
      af["sha256"] = JsonString(a.sha256());
      af["size"] = JsonNumber(static_cast<double>(a.size()));
      *artifacts.mutable_list_value()->add_values() = item;
    }
    f["artifacts"] = artifacts;
    return WriteOut(*o_.out, JsonLine(doc));
  }

 private:
  google::protobuf::Struct Event(absl::string_view type) const {
    google::protobuf::Struct doc;
    auto& f = *doc.mutable_fields();
    f["event"] = JsonString(type);
    f["build_id"] = JsonString(o_.build_id);
    f["time"] = JsonString(Rfc3339(o_.now()));
    return doc;
  }
  void Emit(const google::protobuf::Struct& doc) { (void)WriteOut(*o_.out, JsonLine(doc)); }

  void EmitSteps(const v1::Build& b) {
    for (const StepTracker::Change& c : steps_.Update(b)) {
      auto doc = Event(c.start ? "step_start" : "step_end");
      auto& f = *doc.mutable_fields();
      f["step"] = JsonString(c.name);
      f["index"] = JsonNumber(c.index);
      f["total"] = JsonNumber(steps_.total());
      if (c.start) {
        if (c.time != absl::InfinitePast()) f["started_at"] = JsonString(Rfc3339(c.time));
      } else {
        f["seconds"] = JsonNumber(c.seconds);
        f["result"] = JsonString(c.result);
      }
      Emit(doc);
    }
  }

  ProgressOptions o_;
  uint64_t offset_;
  StepTracker steps_;
};

// ---- tty -------------------------------------------------------------------

// The terminal's size from stderr, else $COLUMNS/$LINES, else 80x24.
void TerminalSize(int& width, int& height) {
  struct winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
    width = ws.ws_col;
    height = ws.ws_row;
    return;
  }
  width = 80;
  height = 24;
  int v = 0;
  if (const char* c = std::getenv("COLUMNS"); c && absl::SimpleAtoi(c, &v) && v > 0) width = v;
  if (const char* l = std::getenv("LINES"); l && absl::SimpleAtoi(l, &v) && v > 0) height = v;
}

// At most `width` display columns of `text` (escaped, UTF-8 aware).
std::string Fit(absl::string_view text, int width) {
  std::string s = CellText(SanitizeUtf8(text));
  std::string out;
  int cols = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (cols + 1 > width) break;
    out.append(s, i, len);
    i += len;
    ++cols;
  }
  return out;
}

constexpr size_t kTailLines = 40;  // shown after a failure
constexpr int kLiveLines = 6;      // shown under the running step

class TtyProgress : public Progress {
 public:
  explicit TtyProgress(ProgressOptions o) : o_(std::move(o)), tail_(kTailLines) {
    if (o_.tick > absl::ZeroDuration()) {
      ticker_ = std::thread([this] { Tick(); });
    }
  }
  ~TtyProgress() override { StopTicker(); }

  void OnBuild(const v1::Build& b) override {
    absl::MutexLock lock(&mu_);
    build_ = b;
    steps_.Update(b);
    Draw();
  }

  absl::Status OnLog(absl::string_view data) override {
    absl::MutexLock lock(&mu_);
    tail_.Add(data);
    if (o_.tick <= absl::ZeroDuration() || o_.now() - last_draw_ > absl::Milliseconds(100)) Draw();
    return absl::OkStatus();
  }

  void OnNote(absl::string_view note) override {
    absl::MutexLock lock(&mu_);
    note_ = std::string(note);
    Draw();
  }

  absl::Status Finish(const v1::Build& b) override {
    StopTicker();
    absl::MutexLock lock(&mu_);
    build_ = b;
    steps_.Update(b);
    Draw();
    std::string after = "\x1b[?25h";  // the cursor back
    if (b.state() == v1::BUILD_STATE_FAILED) {
      const std::string step = FailedStep();
      std::vector<std::string> lines = tail_.Lines(kTailLines);
      absl::StrAppend(&after, "\n--- the last ", lines.size(), " lines of ",
                      step.empty() ? "the log" : absl::StrCat("step ", step), " ---\n");
      for (const std::string& l : lines) absl::StrAppend(&after, CellText(SanitizeUtf8(l)), "\n");
      absl::StrAppend(&after, "---\n", "the whole log:   sfactory logs ", o_.build_id, "\n",
                      "a debug bundle:  sfactory debug ", o_.build_id, " -o ", o_.build_id,
                      "-debug.tar.gz\n");
    }
    return WriteOut(*o_.err, after);
  }

 private:
  void StopTicker() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    if (ticker_.joinable()) ticker_.join();
  }

  void Tick() {
    absl::MutexLock lock(&mu_);
    while (!stop_) {
      mu_.AwaitWithTimeout(absl::Condition(&stop_), o_.tick);
      if (!stop_) Draw();
    }
  }

  std::string FailedStep() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    for (const v1::PhaseTiming& p : steps_.done()) {
      if (p.result() == "failed") return p.name();
    }
    return tail_.step();
  }

  double Estimate(const std::string& step) const {
    auto it = o_.estimates.seconds.find(step);
    return it == o_.estimates.seconds.end() ? -1 : it->second;
  }

  std::vector<std::string> Frame(int width, int height) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const v1::Build& b = build_;
    const absl::Time now = o_.now();
    std::vector<std::string> lines;

    // The header: what, state, elapsed, what is left.
    std::string head = absl::StrCat("[+] ", o_.build_id, ": Slurm ", b.spec().slurm_version());
    if (!b.spec().recipe().empty()) absl::StrAppend(&head, " (", SpecText(b), ")");
    absl::StrAppend(&head, "  ", StateName(b.state()));
    if (b.state() == v1::BUILD_STATE_QUEUED && b.queue_position() > 0) {
      absl::StrAppend(&head, ", position ", b.queue_position());
    }
    if (IsSet(b.started_at())) {
      absl::Time end = IsSet(b.finished_at()) ? ToTime(b.finished_at()) : now;
      absl::StrAppend(&head, " ", HumanDuration(end - ToTime(b.started_at())));
    }
    double left = 0;
    bool know_left = !o_.estimates.from_build.empty() && b.state() == v1::BUILD_STATE_RUNNING;
    const std::vector<std::string>& plan = steps_.plan();
    const size_t done = steps_.done().size();

    // One line per step.
    const int total = steps_.total();
    const int digits = static_cast<int>(absl::StrCat(total).size());
    size_t name_width = 8;
    for (const std::string& p : plan) name_width = std::max(name_width, p.size());
    for (const v1::PhaseTiming& p : steps_.done()) name_width = std::max(name_width, p.name().size());
    auto label = [&](size_t i, const std::string& name) {
      return absl::StrFormat("[%*d/%d] %-*s", digits, static_cast<int>(i + 1), total,
                             static_cast<int>(name_width), name);
    };
    std::vector<std::string> step_lines;
    int running_line = -1;
    for (size_t i = 0; i < done; ++i) {
      const v1::PhaseTiming& p = steps_.done()[i];
      const bool bad = p.result() != "ok";
      step_lines.push_back(absl::StrCat(bad ? " !> " : " => ", label(i, p.name()), " ",
                                        absl::StrFormat("%7s", StepTime(p.seconds())),
                                        bad ? absl::StrCat("  ", absl::AsciiStrToUpper(p.result()))
                                            : ""));
    }
    size_t next = done;
    if (!steps_.running().empty()) {
      double elapsed = absl::ToDoubleSeconds(now - steps_.running_since());
      if (elapsed < 0) elapsed = 0;
      double est = Estimate(steps_.running());
      std::string line = absl::StrCat(" => ", label(done, steps_.running()), " ",
                                      absl::StrFormat("%7s", StepTime(elapsed)));
      if (est >= 0) {
        absl::StrAppend(&line, "  (last time ", StepTime(est), ")");
        left += std::max(0.0, est - elapsed);
      } else {
        know_left = false;
      }
      running_line = static_cast<int>(step_lines.size());
      step_lines.push_back(line);
      next = done + 1;
    }
    for (size_t i = next; i < plan.size(); ++i) {
      double est = Estimate(plan[i]);
      std::string line = absl::StrCat("    ", label(i, plan[i]));
      if (IsTerminal(b.state())) {
        absl::StrAppend(&line, "       -");
      } else if (est >= 0) {
        absl::StrAppend(&line, " ", absl::StrFormat("%7s", absl::StrCat("~", StepTime(est))));
        left += est;
      } else {
        know_left = false;
      }
      step_lines.push_back(line);
    }
    if (know_left && left >= 1) {
      absl::StrAppend(&head, ", about ", HumanDuration(absl::Seconds(left)), " left");
    }
    lines.push_back(head);
    if (!note_.empty()) lines.push_back(absl::StrCat("    note: ", note_));

    // The running step's last lines beneath it; on a short terminal the
    // oldest done steps fold into one line first, then the log lines go.
    std::vector<std::string> live;
    if (running_line >= 0) {
      for (const std::string& l : tail_.Lines(kLiveLines)) live.push_back("      | " + l);
    }
    const int room = std::max(3, height - 1) - static_cast<int>(lines.size());
    int fold = 0;
    int excess = static_cast<int>(step_lines.size() + live.size()) - room;
    if (excess > 0 && done > 1) {
      fold = std::min(static_cast<int>(done), excess + 1);
      excess -= fold - 1;
    }
    if (excess > 0) live.resize(live.size() - std::min(live.size(), static_cast<size_t>(excess)));
    if (fold > 0) {
      double secs = 0;
      for (int i = 0; i < fold; ++i) secs += steps_.done()[static_cast<size_t>(i)].seconds();
      lines.push_back(absl::StrCat(" => ", fold, " steps done in ", StepTime(secs)));
    }
    for (size_t i = static_cast<size_t>(fold); i < step_lines.size(); ++i) {
      lines.push_back(step_lines[i]);
      if (static_cast<int>(i) == running_line) lines.insert(lines.end(), live.begin(), live.end());
    }
    for (std::string& l : lines) l = Fit(l, width - 1);
    return lines;
  }

  void Draw() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int width = o_.width, height = o_.height;
    if (width <= 0 || height <= 0) TerminalSize(width, height);
    std::vector<std::string> lines = Frame(width, height);
    std::string out = drawn_ == 0 ? "\x1b[?25l" : absl::StrCat("\x1b[", drawn_, "F");
    for (const std::string& l : lines) absl::StrAppend(&out, l, "\x1b[K\n");
    absl::StrAppend(&out, "\x1b[J");
    drawn_ = static_cast<int>(lines.size());
    last_draw_ = o_.now();
    (void)WriteOut(*o_.err, out);
  }

  ProgressOptions o_;
  absl::Mutex mu_;
  v1::Build build_ ABSL_GUARDED_BY(mu_);
  StepTracker steps_ ABSL_GUARDED_BY(mu_);
  StepTail tail_ ABSL_GUARDED_BY(mu_);
  std::string note_ ABSL_GUARDED_BY(mu_);
  int drawn_ ABSL_GUARDED_BY(mu_) = 0;  // lines of the last frame
  absl::Time last_draw_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread ticker_;
};

// Ctrl-C: async-signal-safe, so the text is made beforehand.
char detach_text[512];
size_t detach_len = 0;

extern "C" void OnInterrupt(int) {
  ssize_t n = ::write(STDERR_FILENO, detach_text, detach_len);
  (void)n;
  ::_exit(static_cast<int>(ExitCode::kInterrupted));
}

}  // namespace

absl::StatusOr<ProgressMode> ParseProgressMode(absl::string_view text) {
  static constexpr ProgressMode kModes[] = {ProgressMode::kAuto, ProgressMode::kTty,
                                            ProgressMode::kPlain, ProgressMode::kRawJson,
                                            ProgressMode::kQuiet};
  for (size_t i = 0; i < std::size(kProgressModes); ++i) {
    if (text == kProgressModes[i]) return kModes[i];
  }
  return UsageError(absl::StrCat("--progress takes ", absl::StrJoin(kProgressModes, ", "),
                                 "; not \"", text, "\""));
}

ProgressMode ResolveProgressMode(ProgressMode mode, bool out_is_terminal, bool err_is_terminal,
                                 absl::string_view term) {
  if (mode != ProgressMode::kAuto) return mode;
  return out_is_terminal && err_is_terminal && term != "dumb" ? ProgressMode::kTty
                                                             : ProgressMode::kPlain;
}

StepEstimates EstimatesFrom(const v1::Build& build, const std::vector<v1::Build>& candidates) {
  auto same_variants = [&](const v1::Build& c) {
    std::vector<std::string> a(build.spec().variants().begin(), build.spec().variants().end());
    std::vector<std::string> b(c.spec().variants().begin(), c.spec().variants().end());
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    return a == b;
  };
  const v1::Build* best = nullptr;
  for (const v1::Build& c : candidates) {
    if (c.id() == build.id() || c.state() != v1::BUILD_STATE_SUCCEEDED || c.phases_size() == 0 ||
        c.spec().recipe() != build.spec().recipe() || c.spec().os() != build.spec().os()) {
      continue;
    }
    if (same_variants(c)) {
      best = &c;
      break;
    }
    if (best == nullptr) best = &c;
  }
  StepEstimates e;
  if (best == nullptr) return e;
  e.from_build = best->id();
  for (const v1::PhaseTiming& p : best->phases()) e.seconds[p.name()] = p.seconds();
  return e;
}

std::unique_ptr<Progress> MakeProgress(ProgressOptions options) {
  switch (options.mode) {
    case ProgressMode::kTty:
      return std::make_unique<TtyProgress>(std::move(options));
    case ProgressMode::kRawJson:
      return std::make_unique<RawJsonProgress>(std::move(options));
    case ProgressMode::kQuiet:
      return std::make_unique<QuietProgress>();
    case ProgressMode::kAuto:
    case ProgressMode::kPlain:
      break;
  }
  return std::make_unique<PlainProgress>(std::move(options));
}

std::string SubmittedJsonLine(const v1::SubmitBuildResponse& response) {
  google::protobuf::Struct doc;
  auto& f = *doc.mutable_fields();
  f["event"] = JsonString("submitted");
  f["build_id"] = JsonString(response.build().id());
  f["time"] = JsonString(Rfc3339(absl::Now()));
  std::string outcome = v1::SubmitOutcome_Name(response.outcome());
  absl::string_view o = outcome;
  absl::ConsumePrefix(&o, "SUBMIT_OUTCOME_");
  f["outcome"] = JsonString(absl::AsciiStrToLower(o));
  f["state"] = JsonString(StateName(response.build().state()));
  f["version"] = JsonString(response.build().spec().slurm_version());
  f["digest"] = JsonString(response.build().digest());
  google::protobuf::Value warnings;
  warnings.mutable_list_value();
  for (const std::string& w : response.warnings()) {
    *warnings.mutable_list_value()->add_values() = JsonString(w);
  }
  f["warnings"] = warnings;
  return JsonLine(doc);
}

void TransferMeter::Advance(const v1::Artifact& artifact, uint64_t have) {
  const absl::Time now = now_();
  if (artifact.name() != name_) {
    name_ = artifact.name();
    first_ = have;
    started_ = now;
    drawn_ = absl::InfinitePast();
  }
  if (have < artifact.size() && now - drawn_ < absl::Milliseconds(100)) return;
  drawn_ = now;
  const double secs = absl::ToDoubleSeconds(now - started_);
  const double rate = secs > 0 ? static_cast<double>(have - first_) / secs : 0;
  std::string line = absl::StrCat("\r", Fit(name_, 60), "  ", FormatSize(have), " / ",
                                  FormatSize(artifact.size()));
  if (rate > 0) {
    absl::StrAppend(&line, "  ", FormatSize(static_cast<uint64_t>(rate)), "/s");
    if (have < artifact.size()) {
      absl::StrAppend(&line, "  ETA ",
                      HumanDuration(absl::Seconds(static_cast<double>(artifact.size() - have) / rate)));
    }
  }
  absl::StrAppend(&line, "\x1b[K");
  shown_ = true;
  (void)WriteOut(out_, line);
}

void TransferMeter::Clear() {
  if (shown_) (void)WriteOut(out_, "\r\x1b[K");
  shown_ = false;
  name_.clear();
}

void EndDetachOnInterrupt() {
  struct sigaction sa{};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
}

void DetachOnInterrupt(const std::string& build_id, bool restore_terminal) {
  std::string text = absl::StrCat(
      restore_terminal ? "\x1b[J\x1b[?25h" : "", "\nsfactory: detached; build ", build_id,
      " keeps running. Re-attach with `sfactory logs -f ", build_id, "`, stop it with `sfactory cancel ",
      build_id, "`\n");
  detach_len = std::min(text.size(), sizeof(detach_text));
  std::memcpy(detach_text, text.data(), detach_len);
  struct sigaction sa{};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
}

}  // namespace sfactory::client
