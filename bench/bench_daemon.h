// What the service benchmarks share: a real sfactoryd started on a temporary
// unix socket with a temporary state dir (the config tests/integration/lib.sh
// writes: local provider, tests/recipes on the recipe path), the generated
// stubs to talk to it, and small measuring helpers. Benchmarks talk only to
// the socket this creates.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/fs.h"
#include "common/subprocess.h"
#include "grpcpp/channel.h"
#include "sfactory/v1/sfactory.grpc.pb.h"

namespace sfactory::bench {

namespace v1 = ::sfactory::v1;

// Flags every service benchmark takes. Parse() handles --sfactoryd,
// --sfactory, --source-dir, --keep and --help and hands anything else to
// `extra` (which returns false for an unknown flag). Exits 2 on bad flags.
struct CommonFlags {
  std::filesystem::path sfactoryd;   // default: the one in this build tree
  std::filesystem::path sfactory;    // the CLI, same
  std::filesystem::path source_dir;  // the repo (tests/recipes, tests/fixtures, templates)
  bool keep = false;                 // keep the temp dir even on success
};

// `usage` is printed for --help and bad flags. `extra(flag, next_value)`
// returns how many argv entries it consumed (0 = unknown flag).
CommonFlags ParseFlags(int argc, char** argv, const char* usage,
                       const std::function<int(const std::string&, const char*)>& extra);

// A gRPC channel to `address` with the client's own receive limit. With
// `private_connection` the channel gets its own subchannel pool, so it opens
// its own connection instead of sharing one with equal channels.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, bool private_connection);

class Daemon {
 public:
  // Creates `<TMPDIR>/sf-bench-<name>-XXXXXX`, writes sfactoryd.yaml there
  // (the lib.sh config plus `extra_config` lines; a "listen:" line among
  // them replaces the default, and must list unix:@SOCKET@, replaced by the
  // socket path the bench talks to), starts sfactoryd with its
  // output in daemon.log and waits up to 10 s for GetServerInfo to answer.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(
      const CommonFlags& flags, const std::string& name,
      const std::vector<std::string>& extra_config);
  // Stops the daemon (SIGTERM, then SIGKILL after 30 s). The temp dir is
  // removed unless Keep() was called or --keep was given.
  ~Daemon();

  // Start() with tests/fixtures/hello-1.0.tar.gz added to the source cache,
  // as the benchmarks that build the hello recipe need.
  static absl::StatusOr<std::unique_ptr<Daemon>> StartWithHelloSource(
      const CommonFlags& flags, const std::string& name,
      const std::vector<std::string>& extra_config = {});

  // SIGTERM and wait (bounded); returns its exit code.
  absl::StatusOr<int> Stop();
  // Keeps the temp dir and says where it is (for a failed run).
  void Keep();

  const std::string& address() const { return address_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path state_dir() const { return dir_.path() / "state"; }
  pid_t pid() const { return daemon_ ? daemon_->pid() : -1; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  v1::BuildService::Stub& builds() { return *builds_; }
  v1::ServerInfoService::Stub& info() { return *info_; }

  // Uploads `file` through SourceService.AddSource in 1 MiB messages.
  absl::Status AddSource(const std::filesystem::path& file);
  // Submits and polls GetBuild every 200 ms until the build ends or
  // `timeout` passes. Returns the final build (any terminal state).
  absl::StatusOr<v1::Build> SubmitAndWait(const v1::SubmitBuildRequest& request,
                                          absl::Duration timeout);
  absl::StatusOr<v1::Build> GetBuild(const std::string& id);
  // The last lines of daemon.log, for failure reports.
  std::string LogTail(int lines) const;
  // Reports "<bench>: FAIL: <why>" with the log's tail, keeps the temp dir
  // and returns 1 (the benchmark's exit code).
  int Fail(const char* bench, const std::string& why);

 private:
  Daemon(TempDir dir, bool keep) : dir_(std::move(dir)), keep_(keep) {}
  TempDir dir_;
  bool keep_ = false;
  std::string address_;
  std::optional<Subprocess> daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::BuildService::Stub> builds_;
  std::unique_ptr<v1::ServerInfoService::Stub> info_;
};

// "VmRSS", "VmHWM", "Threads", ... from /proc/<pid>/status, in the unit the
// kernel prints (kB for memory); nullopt when unreadable.
std::optional<uint64_t> ProcStatus(pid_t pid, const char* field);
// Resets the process's VmHWM to its current RSS (writes 5 to clear_refs).
bool ResetPeakRss(pid_t pid);

using Clock = std::chrono::steady_clock;
inline double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Nearest-rank percentile of `v` (sorted by this call), p in [0, 100].
double Percentile(std::vector<double>& v, double p);
double Median(std::vector<double> v);

const char* Verdict(bool met);  // "PASS" / "MISSED"

// The machine line for reports: CPU model, online CPUs, memory, kernel.
std::string MachineDescription();

}  // namespace sfactory::bench
