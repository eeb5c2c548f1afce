#include "common/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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

absl::StatusOr<RunResult> RunCapture(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& env,
                                     const std::filesystem::path& cwd) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  Fd read_end(p[0]), write_end(p[1]);
  SubprocessOptions opts;
  opts.argv = argv;
  opts.env = env.empty() ? ScrubbedEnv() : env;
  opts.cwd = cwd;
  opts.output_fd = write_end.get();
  SF_ASSIGN_OR_RETURN(Subprocess child, Subprocess::Start(opts));
  write_end.Reset();
  RunResult result;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read child output");
    }
    if (n == 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  SF_ASSIGN_OR_RETURN(result.exit_code, child.Wait());
  return result;
}

}  // namespace sfactory
