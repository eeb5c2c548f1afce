// How `submit` and `logs --follow` show a build while it runs
// (--progress auto|tty|plain|rawjson|quiet).
//
//   plain    the log on stdout as it comes, and (submit) one line on stderr
//            per state or step change: what the client always printed.
//   tty      a live view on stderr in the style of BuildKit's: one line per
//            step of the run (the daemon announces the plan when the run
//            starts), done steps with their time, the running one with its
//            elapsed time and an estimate taken from the last succeeded build
//            of the same series and recipe, and the last lines of the running
//            step's log beneath it. Redrawn in place; nothing scrolls away.
//            On failure the failing step's last 40 lines follow, with the
//            commands that show the whole log and make a debug bundle.
//   rawjson  one JSON object per line on stdout, for CI systems (the fields
//            are documented in docs/USER_GUIDE.md and are stable).
//   quiet    nothing while the build runs.
//   auto     tty when stdout and stderr are both terminals (and TERM is not
//            "dumb"), plain otherwise.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/fetch.h"
#include "sfactory/v1/sfactory.pb.h"

namespace sfactory::client {

enum class ProgressMode { kAuto, kTty, kPlain, kRawJson, kQuiet };

// "auto", "tty", "plain", "rawjson", "quiet"; a usage error naming them otherwise.
absl::StatusOr<ProgressMode> ParseProgressMode(absl::string_view text);
// The values ParseProgressMode takes, for help and completion.
inline constexpr const char* kProgressModes[] = {"auto", "tty", "plain", "rawjson", "quiet"};

// kAuto made concrete (see the top of this file); other modes unchanged.
ProgressMode ResolveProgressMode(ProgressMode mode, bool out_is_terminal, bool err_is_terminal,
                                 absl::string_view term);

// How long each step took in an earlier build, for the tty view's estimates.
struct StepEstimates {
  std::string from_build;  // the build the times come from; empty: no estimates
  std::map<std::string, double, std::less<>> seconds;
};
// The estimates from the newest of `candidates` (newest first, as ListBuilds
// returns them) that succeeded with the same recipe and OS as `build`,
// preferring one with the same variants too. Empty when none qualifies.
StepEstimates EstimatesFrom(const v1::Build& build, const std::vector<v1::Build>& candidates);

struct ProgressOptions {
  ProgressMode mode = ProgressMode::kPlain;  // concrete: never kAuto
  std::ostream* out = nullptr;               // log bytes (plain) or JSON lines (rawjson)
  std::ostream* err = nullptr;               // state lines (plain) or the live view (tty)
  bool out_is_terminal = false;              // plain: escape control characters in the log
  // plain: also print a line per state or step change on err (submit does,
  // `logs` does not).
  bool state_lines = true;
  std::string build_id;
  uint64_t log_offset = 0;                   // where the watch starts in the log
  StepEstimates estimates;
  // tty: the terminal's size; 0 = ask the terminal on err's fd (stderr),
  // else $COLUMNS/$LINES, else 80x24.
  int width = 0;
  int height = 0;
  // tty: redraw this often even when nothing arrives (elapsed times move);
  // zero: only on events (the unit tests).
  absl::Duration tick = absl::Seconds(1);
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

// The display of one followed build. The watcher calls OnBuild, OnLog and
// OnNote as events arrive, from one thread; Finish once at the end.
class Progress {
 public:
  virtual ~Progress() = default;
  // A Build event: state, current step, plan and finished steps.
  virtual void OnBuild(const v1::Build& build) = 0;
  // Log bytes in order, each once. An error (stdout gone) stops the watch.
  virtual absl::Status OnLog(absl::string_view data) = 0;
  // Something the user should know that is not an error (reconnects).
  virtual void OnNote(absl::string_view note) = 0;
  // The watch is over and `build` is the last state known. Prints the final
  // view (tty), the end event (rawjson), the failing step's tail (tty).
  virtual absl::Status Finish(const v1::Build& build) = 0;
};

std::unique_ptr<Progress> MakeProgress(ProgressOptions options);

// rawjson's first line for submit: {"event":"submitted", ...}.
std::string SubmittedJsonLine(const v1::SubmitBuildResponse& response);

// `fetch` on a terminal: one line, redrawn at most ten times a second:
//   slurm-24.11.7-...-software.tar.zst  12.3 MiB / 36.0 MiB  8.1 MiB/s  ETA 3s
// The rate counts only the bytes of this run (not a resumed prefix).
class TransferMeter : public FetchMeter {
 public:
  explicit TransferMeter(std::ostream& out,
                         std::function<absl::Time()> now = [] { return absl::Now(); })
      : out_(out), now_(std::move(now)) {}
  void Advance(const v1::Artifact& artifact, uint64_t have) override;
  void Clear() override;

 private:
  std::ostream& out_;
  std::function<absl::Time()> now_;
  std::string name_;
  uint64_t first_ = 0;  // `have` when this artifact's download began
  absl::Time started_, drawn_;
  bool shown_ = false;
};

// Ctrl-C while following a build: instead of dying mid-line, print a line
// that says the build keeps running and how to re-attach, then exit 130.
// Installed by submit and logs --follow once the build id is known;
// `restore_terminal` (tty) also moves below the live view first.
void DetachOnInterrupt(const std::string& build_id, bool restore_terminal);
// Ctrl-C as before DetachOnInterrupt: the follow is over (a fetch may come next).
void EndDetachOnInterrupt();

}  // namespace sfactory::client
