// A child process in its own process group. The owner can signal the whole
// group, and the destructor never leaves a zombie or a stray process group
// behind (it SIGKILLs the group and reaps the child if still running).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/cancel.h"
#include "common/output_pump.h"

namespace sfactory {

struct SubprocessOptions {
  std::vector<std::string> argv;
  // The complete environment ("KEY=value"); nothing is inherited.
  std::vector<std::string> env;
  // Working directory; empty = inherit.
  std::filesystem::path cwd;
  // Both stdout and stderr go here; -1 sends them to /dev/null. The fd is
  // dup'ed into the child; the caller keeps ownership.
  int output_fd = -1;
  // stdin fd; -1 means /dev/null.
  int input_fd = -1;
};

class Subprocess {
 public:
  static absl::StatusOr<Subprocess> Start(const SubprocessOptions& options);

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  // Blocks until the child exits. Returns its exit code, or 128 + signal
  // number when a signal ended it.
  absl::StatusOr<int> Wait();
  // Like Wait() but returns nullopt at once while the child still runs.
  absl::StatusOr<std::optional<int>> TryWait();
  // Sends `sig` to the child's whole process group. Safe from any thread
  // while another thread is in Wait().
  void SignalGroup(int sig);

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  bool reaped_ = false;
};

struct RunToSinkOptions {
  Framing framing = Framing::kChunks;
  // When it fires, the child's group gets SIGKILL at once (zero grace) or
  // SIGTERM and, `kill_grace` later, SIGKILL. The run then ends Cancelled.
  CancelToken* cancel = nullptr;
  absl::Duration kill_grace = absl::ZeroDuration();
  // Once the child has exited (which kills what is left of its group), how
  // long output is still read from processes that escaped the group and
  // hold the pipe. Infinite: until end of file.
  absl::Duration drain_after_exit = absl::InfiniteDuration();
  // Called once the child runs (e.g. to record its process group).
  std::function<void(const Subprocess&)> on_start;
};

// Starts `options` (its output_fd must be -1: the pipe is made here) and
// pumps the child's stdout and stderr, interleaved as written, into `sink`
// until it exits. Returns its exit code (128 + signal number when a signal
// ended it); Cancelled ("<argv[0]>: cancelled") when `run.cancel` fired;
// Subprocess::Start's error when it could not start (NotFound for a missing
// program); a read/poll error otherwise. The child is reaped before it
// returns, whatever the result.
absl::StatusOr<int> RunToSink(SubprocessOptions options, const OutputFn& sink,
                              const RunToSinkOptions& run = {});

struct RunResult {
  int exit_code = 0;
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv to completion and captures its output. `env` empty means a
// minimal PATH-only environment.
absl::StatusOr<RunResult> RunCapture(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& env = {},
                                     const std::filesystem::path& cwd = {});

// The environment a scrubbed child gets: PATH, LANG=C.UTF-8, HOME, TMPDIR,
// plus `extra`.
std::vector<std::string> ScrubbedEnv(const std::vector<std::string>& extra = {});

}  // namespace sfactory
