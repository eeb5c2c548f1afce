#include "daemon/provider/local_provider.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/fs.h"
#include "common/status.h"
#include "common/subprocess.h"

namespace sfactory::provider {
namespace fs = std::filesystem;
namespace {

constexpr absl::Duration kKillGrace = absl::Seconds(5);
constexpr absl::Duration kDrainAfterExit = absl::Seconds(2);
constexpr char kPgidFile[] = "running.pgid";

// Kills the process group a crashed daemon left running in `dir`, if its
// leader still runs a script from that directory (guards against reuse).
void KillLeftoverGroup(const fs::path& dir) {
  auto text = ReadFile(dir / kPgidFile);
  int pgid = 0;
  if (!text.ok() || !absl::SimpleAtoi(*text, &pgid) || pgid <= 1) return;
  auto cmdline = ReadFile(absl::StrCat("/proc/", pgid, "/cmdline"));
  if (!cmdline.ok() || cmdline->find((dir / "phases").string() + "/") == std::string::npos) return;
  ::kill(-pgid, SIGKILL);
}

std::string InstanceName(const InstanceRequest& r) {
  return r.purpose == InstancePurpose::kVerify ? r.build_id + "-verify" : r.build_id;
}

class LocalInstance : public Instance {
 public:
  LocalInstance(std::string name, fs::path dir, InstanceLayout layout)
      : name_(std::move(name)), dir_(std::move(dir)), layout_(std::move(layout)) {}

  const std::string& name() const override { return name_; }
  const InstanceLayout& layout() const override { return layout_; }
  const fs::path& dir() const { return dir_; }

  absl::StatusOr<int> Exec(const ExecRequest& request, OutputSink& sink,
                           CancelToken& cancel) override {
    fs::path scripts = dir_ / "phases";
    SF_RETURN_IF_ERROR(MakeDirs(scripts));
    fs::path script = scripts / absl::StrCat(++exec_count_, "-", request.phase, ".sh");
    SF_RETURN_IF_ERROR(WriteFileAtomic(script, request.script, 0755));

    std::vector<std::string> env = ScrubbedEnv();
    // HOME and TMPDIR point inside the instance so nothing leaks between builds.
    for (auto& e : env) {
      if (absl::StartsWith(e, "HOME=")) e = absl::StrCat("HOME=", (dir_ / "home").string());
      if (absl::StartsWith(e, "TMPDIR=")) e = absl::StrCat("TMPDIR=", (dir_ / "tmp").string());
    }
    env.insert(env.end(), request.env.begin(), request.env.end());
    SubprocessOptions opts;
    opts.argv = {"/bin/bash", "-eo", "pipefail", script.string()};
    opts.env = std::move(env);
    opts.cwd = layout_.work;
    RunToSinkOptions run;
    run.cancel = &cancel;
    run.kill_grace = kKillGrace;
    run.drain_after_exit = kDrainAfterExit;
    // Lets RemoveOrphans kill this group if the daemon dies mid-phase.
    run.on_start = [&](const Subprocess& child) {
      (void)WriteFileAtomic(dir_ / kPgidFile, absl::StrCat(child.pid()));
    };
    absl::StatusOr<int> exit_code = RunToSink(std::move(opts), WriteTo(sink), run);
    (void)RemoveAll(dir_ / kPgidFile);
    if (absl::IsCancelled(exit_code.status())) {
      return absl::CancelledError(absl::StrCat("phase ", request.phase, " was cancelled"));
    }
    return exit_code;
  }

  absl::Status PushFile(const fs::path& host_path, const std::string& instance_path,
                        int mode) override {
    SF_ASSIGN_OR_RETURN(fs::path dest, Resolve(instance_path));
    SF_RETURN_IF_ERROR(MakeDirs(dest.parent_path()));
    std::error_code ec;
    fs::copy_file(host_path, dest, fs::copy_options::overwrite_existing, ec);
    if (ec) return ErrnoStatus(ec.value(), absl::StrCat("copy ", host_path.string(), " into ", name_));
    fs::permissions(dest, static_cast<fs::perms>(mode), ec);
    return absl::OkStatus();
  }

  absl::Status PullFile(const std::string& instance_path, const fs::path& host_path) override {
    SF_ASSIGN_OR_RETURN(fs::path src, Resolve(instance_path));
    return Annotate(CopyFileAtomic(src, host_path),
                    absl::StrCat("copy ", instance_path, " out of ", name_));
  }

 private:
  // Instance paths must stay inside the instance dir (or the mounted caches).
  absl::StatusOr<fs::path> Resolve(const std::string& instance_path) const {
    fs::path p = fs::path(instance_path).lexically_normal();
    if (!p.is_absolute()) {
      return absl::InvalidArgumentError(
          absl::StrCat("path ", instance_path, " in instance ", name_, " is not absolute"));
    }
    for (const auto& base : {dir_, fs::path(layout_.sources), fs::path(layout_.ccache)}) {
      if (base.empty()) continue;
      auto rel = p.lexically_relative(base);
      if (!rel.empty() && *rel.begin() != "..") return p;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("path ", instance_path, " is outside instance ", name_));
  }

  std::string name_;
  fs::path dir_;
  InstanceLayout layout_;
  int exec_count_ = 0;
};

class LocalProvider : public Provider {
 public:
  LocalProvider(fs::path root, std::string host_os)
      : root_(std::move(root)), host_os_(std::move(host_os)) {}

  std::string name() const override { return "local"; }

  absl::Status Accepts(const v1::BuildSpec& spec) const override {
    if (spec.os() == host_os_) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("the local provider builds for the host (",
                                                   host_os_, ") only; got ", spec.os()));
  }

  absl::Status Check() override {
    if (::access(root_.c_str(), W_OK) != 0) {
      return Annotate(ErrnoStatus(errno, root_.string()),
                      "the local provider cannot write its work directory; fix the "
                      "permissions of state_dir");
    }
    if (::access("/bin/bash", X_OK) != 0) {
      return absl::FailedPreconditionError("the local provider needs /bin/bash");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Instance>> Create(const InstanceRequest& request,
                                                   OutputSink& log, CancelToken&) override {
    std::string name = InstanceName(request);
    fs::path dir = root_ / name;
    KillLeftoverGroup(dir);
    SF_RETURN_IF_ERROR(RemoveAll(dir));  // a leftover from a crashed attempt
    InstanceLayout layout;
    layout.work = (dir / "work").string();
    layout.out = (dir / "out").string();
    if (request.purpose == InstancePurpose::kBuild) {
      layout.sources = request.sources_dir.string();
      layout.ccache = request.ccache_dir.string();
    }
    for (const char* sub : {"work", "out", "home", "tmp"}) {
      SF_RETURN_IF_ERROR(MakeDirs(dir / sub, 0700));
    }
    log.Write(absl::StrCat("local instance ", name, " in ", dir.string(), "\n"));
    return std::unique_ptr<Instance>(new LocalInstance(name, dir, layout));
  }

  absl::Status Destroy(std::unique_ptr<Instance> instance) override {
    if (!instance) return absl::OkStatus();
    auto* local = static_cast<LocalInstance*>(instance.get());
    return RemoveAll(local->dir());
  }

  absl::StatusOr<int> RemoveOrphans(const std::set<std::string>& live) override {
    int removed = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root_, ec)) {
      std::string name = e.path().filename().string();
      std::string id = name;
      if (absl::EndsWith(id, "-verify")) id.resize(id.size() - 7);
      if (live.count(id)) continue;
      KillLeftoverGroup(e.path());
      SF_RETURN_IF_ERROR(RemoveAll(e.path()));
      ++removed;
    }
    return removed;
  }

 private:
  fs::path root_;
  std::string host_os_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Provider>> MakeLocalProvider(const fs::path& root,
                                                            std::string host_os) {
  SF_RETURN_IF_ERROR(MakeDirs(root, 0700));
  return std::unique_ptr<Provider>(new LocalProvider(root, std::move(host_os)));
}

}  // namespace sfactory::provider
