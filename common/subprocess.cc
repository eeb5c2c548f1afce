#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/status.h"

namespace sfactory {

absl::StatusOr<Subprocess> Subprocess::Start(const SubprocessOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("empty command line");
  std::vector<char*> argv;
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : options.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  // The child reports a failed exec through this pipe (closed on success).
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);

  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus(errno, "fork");
  if (pid == 0) {
    ::setpgid(0, 0);
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    int devnull = ::open("/dev/null", O_RDWR);
    int in = options.input_fd >= 0 ? options.input_fd : devnull;
    int out = options.output_fd >= 0 ? options.output_fd : devnull;
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) {
      int e = errno;
      (void)!::write(err_write.get(), &e, sizeof e);
      ::_exit(127);
    }
    ::execvpe(argv[0], argv.data(), envp.data());
    int e = errno;
    (void)!::write(err_write.get(), &e, sizeof e);
    ::_exit(127);
  }
  // Also set it from the parent so that a SignalGroup() right after Start()
  // cannot race the child's own setpgid.
  ::setpgid(pid, pid);
  err_write.Reset();
  Subprocess child(pid);
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_read.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n == sizeof child_errno) {
    (void)child.Wait();
    return ErrnoStatus(child_errno, absl::StrCat("start ", options.argv[0]));
  }
  return child;
}

Subprocess::Subprocess(Subprocess&& other) noexcept : pid_(other.pid_), reaped_(other.reaped_) {
  other.pid_ = -1;
}

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  if (this != &other) {
    this->~Subprocess();
    pid_ = other.pid_;
    reaped_ = other.reaped_;
    other.pid_ = -1;
  }
  return *this;
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, SIGKILL);
    int st;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
}

namespace {

int DecodeWaitStatus(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 255;
}

}  // namespace

absl::StatusOr<int> Subprocess::Wait() {
  if (pid_ <= 0) return absl::FailedPreconditionError("no child process");
  int st = 0;
  for (;;) {
    if (::waitpid(pid_, &st, 0) >= 0) break;
    if (errno != EINTR) return ErrnoStatus(errno, "waitpid");
  }
  reaped_ = true;
  // Anything the child left running in its group goes with it.
  ::kill(-pid_, SIGKILL);
  return DecodeWaitStatus(st);
}

absl::StatusOr<std::optional<int>> Subprocess::TryWait() {
  if (pid_ <= 0) return absl::FailedPreconditionError("no child process");
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &st, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return ErrnoStatus(errno, "waitpid");
  if (r == 0) return std::optional<int>();
  reaped_ = true;
  ::kill(-pid_, SIGKILL);
  return std::optional<int>(DecodeWaitStatus(st));
}

void Subprocess::SignalGroup(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(-pid_, sig);
}

std::vector<std::string> ScrubbedEnv(const std::vector<std::string>& extra) {
  std::vector<std::string> env = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "LANG=C.UTF-8",
      "LC_ALL=C.UTF-8",
  };
  const char* home = ::getenv("HOME");
  env.push_back(absl::StrCat("HOME=", home ? home : "/"));
  const char* tmp = ::getenv("TMPDIR");
  env.push_back(absl::StrCat("TMPDIR=", tmp && *tmp ? tmp : "/tmp"));
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

absl::StatusOr<int> RunToSink(SubprocessOptions options, const OutputFn& sink,
                              const RunToSinkOptions& run) {
  if (options.output_fd >= 0) return absl::InvalidArgumentError("RunToSink makes its own pipe");
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  Fd read_end(p[0]), write_end(p[1]);
  options.output_fd = write_end.get();
  SF_ASSIGN_OR_RETURN(Subprocess child, Subprocess::Start(options));
  write_end.Reset();
  if (run.on_start) run.on_start(child);

  OutputPump pump(sink, {run.framing, run.cancel});
  pump.AddFd(std::move(read_end));
  // Readable once the child exits; without it (old kernels) exit is polled.
  Fd exited(static_cast<int>(::syscall(SYS_pidfd_open, child.pid(), 0)));
  bool killed = false;
  absl::Time kill_at = absl::InfiniteFuture();
  absl::Time drain_until = absl::InfiniteFuture();
  std::optional<int> exit_code;
  absl::Status status;
  // Until the child is reaped, cancel and the kill deadline stay in force,
  // even when it closed or redirected its output early.
  for (;;) {
    absl::Duration wait = std::min(kill_at, drain_until) - absl::Now();
    if (!exited.valid() && !exit_code) wait = std::min(wait, absl::Milliseconds(50));
    pollfd exit_poll = {exit_code ? -1 : exited.get(), POLLIN, 0};
    status = pump.Poll(wait, absl::MakeSpan(&exit_poll, 1));
    if (!status.ok()) break;
    if (pump.cancelled() && !killed) {
      killed = true;
      if (run.kill_grace > absl::ZeroDuration()) {
        child.SignalGroup(SIGTERM);
        kill_at = absl::Now() + run.kill_grace;
      } else {
        child.SignalGroup(SIGKILL);
      }
    }
    if (absl::Now() >= kill_at) {
      child.SignalGroup(SIGKILL);
      kill_at = absl::InfiniteFuture();
    }
    if (!exit_code && (exit_poll.revents != 0 || !exited.valid())) {
      absl::StatusOr<std::optional<int>> w = child.TryWait();
      if (!w.ok()) {
        status = w.status();
        break;
      }
      if (w->has_value()) {
        exit_code = **w;
        drain_until = absl::Now() + run.drain_after_exit;  // infinite stays infinite
      }
    }
    // Done; or a process that left the group still holds the pipe.
    if (exit_code && (!pump.open() || absl::Now() >= drain_until)) break;
  }
  pump.Flush();
  if (!exit_code) {  // only after an error: do not wait for a child that runs on
    child.SignalGroup(SIGKILL);
    absl::StatusOr<int> w = child.Wait();
    if (w.ok()) exit_code = *w;
  }
  if (!status.ok()) return status;
  if (killed) return absl::CancelledError(absl::StrCat(options.argv[0], ": cancelled"));
  return exit_code.value_or(255);
}

absl::StatusOr<RunResult> RunCapture(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& env,
                                     const std::filesystem::path& cwd) {
  SubprocessOptions opts;
  opts.argv = argv;
  opts.env = env.empty() ? ScrubbedEnv() : env;
  opts.cwd = cwd;
  Capture capture;
  RunResult result;
  SF_ASSIGN_OR_RETURN(result.exit_code, RunToSink(std::move(opts), capture.Fn()));
  result.output = capture.Take();
  return result;
}

}  // namespace sfactory
