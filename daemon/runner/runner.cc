#include "daemon/runner/runner.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/fs.h"
#include "common/spec.h"
#include "common/status.h"
#include "common/timestamps.h"
#include "common/units.h"

namespace sfactory::runner {
namespace fs = std::filesystem;
namespace {

// Writes into the build log; a failing write (disk full) is remembered so
// the build fails with it instead of silently losing log lines.
// The build log as the phases' output sink. Past `max_bytes` (0: never) it
// stops appending, keeps the last kLogTailBytes in memory, and calls
// `on_overflow` once; Flush() then appends a note of what was cut and the
// tail, so the log keeps its head and its end.
class LogSink : public provider::OutputSink {
 public:
  LogSink(BuildLog& log, uint64_t max_bytes, std::function<void()> on_overflow)
      : log_(log), on_overflow_(std::move(on_overflow)), max_(max_bytes) {}
  void Write(absl::string_view bytes) override {
    bool overflowed = false;
    {
      absl::MutexLock lock(&mu_);
      if (!over_ && (max_ == 0 || written_ + bytes.size() <= max_)) {
        AppendLocked(bytes);
        return;
      }
      if (!over_) {
        size_t fits = static_cast<size_t>(max_ - written_);
        AppendLocked(bytes.substr(0, fits));
        bytes.remove_prefix(fits);
        AppendLocked(absl::StrCat("\n==> the log reached max_log_size (", FormatByteSize(max_),
                                  "): the build stops; the log keeps its last ",
                                  FormatByteSize(kLogTailBytes), "\n"));
        over_ = overflowed = true;
      }
      cut_ += bytes.size();
      tail_.append(bytes.data(), bytes.size());
      if (tail_.size() > 2 * kLogTailBytes) {
        tail_.erase(0, tail_.size() - kLogTailBytes);
      }
    }
    if (overflowed) on_overflow_();  // outside the lock: it cancels, which may log
  }
  void Line(absl::string_view line) { Write(absl::StrCat(line, "\n")); }
  // After an overflow: the note of what was cut, then the kept tail.
  void Flush() {
    absl::MutexLock lock(&mu_);
    if (!over_) return;
    if (tail_.size() > kLogTailBytes) tail_.erase(0, tail_.size() - kLogTailBytes);
    uint64_t dropped = cut_ - tail_.size();
    AppendLocked(absl::StrCat("==> [", dropped, " bytes of log cut at max_log_size; the last ",
                              tail_.size(), " follow]\n"));
    AppendLocked(tail_);
    tail_.clear();
    over_ = false;
    max_ = 0;  // the run's own last lines always go in
  }
  absl::Status status() const {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  void AppendLocked(absl::string_view bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (bytes.empty()) return;
    absl::Status s = log_.Append(bytes);
    written_ += bytes.size();
    if (!s.ok() && status_.ok()) status_ = s;
  }

  BuildLog& log_;
  std::function<void()> on_overflow_;
  mutable absl::Mutex mu_;
  uint64_t max_ ABSL_GUARDED_BY(mu_);
  uint64_t written_ ABSL_GUARDED_BY(mu_) = 0;
  bool over_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t cut_ ABSL_GUARDED_BY(mu_) = 0;
  std::string tail_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

// Cancels through `fire` when `after` passes before it is destroyed.
class Watchdog {
 public:
  Watchdog(absl::Duration after, std::function<void()> fire) {
    if (after == absl::InfiniteDuration()) return;
    thread_ = std::thread([this, after, fire = std::move(fire)] {
      if (!done_.WaitForNotificationWithTimeout(after)) fire();
    });
  }
  ~Watchdog() {
    done_.Notify();
    if (thread_.joinable()) thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  absl::Notification done_;
  std::thread thread_;
};

std::string Timestamp() { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone()); }

// Whether a phase saves its environment at exit for a debug bundle.
enum class EnvCapture { kNo, kYes };

// The steps of one run, with their shared state.
class Run {
 public:
  Run(const RunnerDeps& deps, const RunRequest& req, BuildLog& log,
      provider::CancelToken& cancel, const OnStep& on_step)
      : deps_(deps),
        req_(req),
        sink_(log, deps.max_log_size,
              [this] {
                Trip(absl::ResourceExhaustedError(absl::StrCat(
                    "the build log passed max_log_size (", FormatByteSize(deps_.max_log_size),
                    ") during ", running_step(),
                    "; a phase printing without end? (the log keeps its head and tail)")));
              }),
        cancel_(cancel),
        on_step_(on_step),
        log_path_(log.path()) {
    // The run's own token: the build's cancel, or a limit (Trip).
    forward_ = cancel_.OnCancel([this] { run_cancel_.Cancel(); });
    // The order ExecuteSteps() takes them in.
    planned_ = {"sources", "instance"};
    for (const auto& p : req.recipe->phases) planned_.push_back(p.name);
    planned_.push_back("collect");
    if (!req.recipe->package_name.empty()) planned_.push_back("package");
    if (req.build.verify() && !req.recipe->verify.empty()) {
      planned_.push_back("verify-instance");
      for (const auto& p : req.recipe->verify) planned_.push_back(p.name);
    }
    planned_.push_back("store");
  }

  ~Run() { cancel_.Unregister(forward_); }

  RunOutcome Execute() {
    ClearDebug();
    absl::Status status;
    {
      Watchdog build_clock(deps_.max_build_time, [this] {
        Trip(absl::DeadlineExceededError(absl::StrCat(
            "the build ran longer than max_build_time (", HumanTime(deps_.max_build_time),
            ") during ", running_step())));
      });
      status = ExecuteSteps();
    }
    status = Tripped(status);
    sink_.Flush();
    const bool keep_debug =
        !status.ok() && !absl::IsCancelled(status) && !req_.debug_dir.empty();
    if (keep_debug) CollectDebugTree(status);
    if (build_instance_) {
      bool keep = !status.ok() && req_.keep_instance_on_failure;
      if (keep) {
        sink_.Line(absl::StrCat("==> keeping instance ", build_instance_->name(),
                                " for debugging (keep_instance_on_failure)"));
        build_instance_.release();  // NOLINT: deliberately left for the user
      } else {
        absl::Status d = deps_.provider->Destroy(std::move(build_instance_));
        if (!d.ok()) sink_.Line(absl::StrCat("warning: could not remove instance: ", d.message()));
      }
    }
    if (status.ok() && !sink_.status().ok()) status = Annotate(sink_.status(), "build log");
    outcome_.state = status.ok()                ? v1::BUILD_STATE_SUCCEEDED
                     : absl::IsCancelled(status) ? v1::BUILD_STATE_CANCELLED
                                                 : v1::BUILD_STATE_FAILED;
    outcome_.error = status.ok() ? "" : std::string(status.message());
    if (status.ok()) {
      sink_.Line(absl::StrCat("==> build ", req_.build.id(), " succeeded at ", Timestamp()));
    } else {
      sink_.Line(absl::StrCat("==> build ", req_.build.id(),
                              absl::IsCancelled(status) ? " cancelled: " : " failed: ",
                              status.message()));
    }
    // After the last line: the bundle holds the whole log.
    if (keep_debug) WriteBundle();
    (void)RemoveAll(host_dir_);
    return outcome_;
  }

 private:
  // Runs `fn` as a logged, timed step.
  absl::Status Step(const std::string& name, const std::function<absl::Status()>& fn) {
    if (run_cancel_.cancelled()) return Tripped(absl::CancelledError("cancelled before " + name));
    ++step_;
    {
      absl::MutexLock lock(&step_mu_);
      running_ = name;
    }
    on_step_(StepUpdate{name, planned_, outcome_.phases});
    sink_.Line(absl::StrFormat("==> [%d/%d] %s (started %s)", step_, planned_.size(), name,
                               Timestamp()));
    absl::Time start = absl::Now();
    absl::Status s = Tripped(fn());
    if (s.ok() && !sink_.status().ok()) s = Annotate(sink_.status(), "build log");
    double secs = absl::ToDoubleSeconds(absl::Now() - start);
    v1::PhaseTiming t;
    t.set_name(name);
    t.set_seconds(secs);
    t.set_result(s.ok()                       ? "ok"
                 : absl::IsCancelled(s)       ? "cancelled"
                 : absl::IsDeadlineExceeded(s) ? "timeout"
                                              : "failed");
    *t.mutable_started_at() = ToTimestamp(start);
    outcome_.phases.push_back(t);
    sink_.Line(absl::StrFormat("==> %s: %s (%.1f s)", name, t.result(), secs));
    if (!s.ok() && !absl::IsCancelled(s)) sink_.Line(absl::StrCat("error: ", s.message()));
    return s;
  }

  std::map<std::string, std::string> Vars() const {
    const auto& spec = req_.build.spec();
    return {{"version", spec.slurm_version()},
            {"series", SeriesOf(spec.slurm_version())},
            {"recipe", spec.recipe()},
            {"os", spec.os()},
            {"arch", spec.arch()},
            {"variants", absl::StrJoin(spec.variants(), " ")},
            {"build_id", req_.build.id()}};
  }

  std::vector<std::string> BaseEnv(const provider::InstanceLayout& layout) const {
    const auto& spec = req_.build.spec();
    return {absl::StrCat("SF_BUILD_ID=", req_.build.id()),
            absl::StrCat("SF_VERSION=", spec.slurm_version()),
            absl::StrCat("SF_SERIES=", SeriesOf(spec.slurm_version())),
            absl::StrCat("SF_RECIPE=", spec.recipe()),
            absl::StrCat("SF_VARIANTS=", absl::StrJoin(spec.variants(), " ")),
            absl::StrCat("SF_JOBS=", deps_.build_jobs),
            absl::StrCat("SF_WORK=", layout.work),
            absl::StrCat("SF_OUT=", layout.out)};
  }

  // Removes what an earlier attempt of this build kept.
  void ClearDebug() {
    if (req_.debug_dir.empty()) return;
    (void)RemoveAll(req_.debug_dir);
    (void)RemoveAll(req_.debug_bundle);
  }

  // The failure path, before the build instance goes: never changes `status`.
  void CollectDebugTree(const absl::Status& status) {
    DebugInput in;
    in.build = &req_.build;
    in.recipe = req_.recipe;
    in.vars = Vars();
    in.env = build_env_;
    in.error = std::string(status.message());
    in.log_path = log_path_;
    in.effective_config = deps_.effective_config;
    CollectDebug(in, *deps_.provider, build_instance_.get(), cancel_, req_.debug_dir);
  }

  void WriteBundle() {
    if (!deps_.write_bundle) return;
    auto bundle = WriteDebugBundle(req_.build.id(), req_.debug_dir, log_path_, host_dir_ / "out",
                                   req_.debug_bundle, deps_.write_bundle);
    if (bundle.ok()) {
      outcome_.debug_bundle = std::move(*bundle);
    } else {
      sink_.Line(absl::StrCat("==> warning: no debug bundle: ", bundle.status().message()));
    }
  }

  absl::Status RunScripts(provider::Instance& instance,
                          const std::vector<recipe::PhaseTemplate>& phases,
                          const std::vector<std::string>& env,
                          EnvCapture capture = EnvCapture::kNo) {
    for (const auto& phase : phases) {
      SF_RETURN_IF_ERROR(Step(phase.name, [&]() -> absl::Status {
        Watchdog phase_clock(phase.timeout, [this, &phase] {
          Trip(absl::DeadlineExceededError(
              absl::StrCat("phase ", phase.name, " ran longer than its timeout (",
                           HumanTime(phase.timeout), ", timeout: in recipe.yaml)")));
        });
        SF_ASSIGN_OR_RETURN(std::string script,
                            recipe::Render(phase.script, Vars(), phase.name));
        if (capture == EnvCapture::kYes) {
          script = WithEnvCapture(script, absl::StrCat(instance.layout().out, "/", kEnvCaptureFile));
        }
        provider::ExecRequest exec{phase.name, std::move(script), env};
        SF_ASSIGN_OR_RETURN(int code, instance.Exec(exec, sink_, run_cancel_));
        if (code != 0) {
          return absl::AbortedError(
              absl::StrCat("phase ", phase.name, " exited with code ", code, " (see the log above)"));
        }
        return absl::OkStatus();
      }));
    }
    return absl::OkStatus();
  }

  absl::Status ExecuteSteps() {
    const auto& spec = req_.build.spec();
    sink_.Line(absl::StrCat("==> build ", req_.build.id(), ": Slurm ", spec.slurm_version(),
                            " recipe ", spec.recipe(), " for ", spec.os(), "/", spec.arch(),
                            spec.variants().empty() ? "" : " variants ",
                            absl::StrJoin(spec.variants(), ","), " on provider ",
                            deps_.provider->name(), ", attempt ", req_.build.attempt()));
    sink_.Line(absl::StrCat("==> digest ", req_.build.digest()));
    for (const auto& w : req_.warnings) sink_.Line(absl::StrCat("==> ", w));
    host_dir_ = deps_.work_root / req_.build.id();
    SF_RETURN_IF_ERROR(RemoveAll(host_dir_));
    SF_RETURN_IF_ERROR(MakeDirs(host_dir_ / "out"));

    cache::ResolvedSource source;
    SF_RETURN_IF_ERROR(Step("sources", [&]() -> absl::Status {
      std::vector<SourceFile> candidates;
      if (req_.recipe->fixed_source) candidates.push_back(*req_.recipe->fixed_source);
      else if (req_.release) candidates = req_.release->sources;
      SF_ASSIGN_OR_RETURN(source, deps_.sources->Ensure(candidates, deps_.allow_downloads,
                                                        [&](absl::string_view l) { sink_.Line(l); }));
      uint64_t size = 0;
      std::error_code ec;
      if (auto n = std::filesystem::file_size(source.path, ec); !ec) size = n;
      sink_.Line(absl::StrCat("==> source ", source.file.name, " sha256 ", source.sha256, " (",
                              size, " bytes)"));
      v1::Source& used = sources_used_.emplace_back();
      used.set_name(source.file.name);
      used.set_sha256(source.sha256);
      used.set_size(size);
      return absl::OkStatus();
    }));

    SF_RETURN_IF_ERROR(Step("instance", [&]() -> absl::Status {
      provider::InstanceRequest ir;
      ir.build_id = req_.build.id();
      ir.spec = spec;
      ir.purpose = provider::InstancePurpose::kBuild;
      ir.sources_dir = deps_.sources->root();
      ir.ccache_dir = deps_.ccache_dir;
      ir.cpus = deps_.instance_cpus;
      ir.memory_bytes = deps_.instance_memory_bytes;
      ir.packages = req_.recipe->packages;
      auto created = deps_.provider->Create(ir, sink_, run_cancel_);
      if (!created.ok()) {
        if (!absl::IsCancelled(created.status())) {
          absl::Status health = deps_.provider->Check();
          outcome_.provider_unavailable = absl::IsUnavailable(created.status()) || !health.ok();
          if (!health.ok()) sink_.Line(absl::StrCat("provider is not usable: ", health.message()));
        }
        return created.status();
      }
      build_instance_ = std::move(*created);
      return absl::OkStatus();
    }));

    const auto& layout = build_instance_->layout();
    std::vector<std::string> env = BaseEnv(layout);
    env.push_back(absl::StrCat("SF_SOURCES=", layout.sources));
    env.push_back(absl::StrCat("SF_SOURCE_FILE=", layout.sources, "/", source.relative_path));
    env.push_back(absl::StrCat("SF_SOURCE_TOPDIR=", source.file.top_dir));
    env.push_back(absl::StrCat("SF_CCACHE_DIR=", layout.ccache));
    env.push_back(absl::StrCat("SF_PREFIX=", InstallPrefix(spec)));
    build_env_ = env;
    SF_RETURN_IF_ERROR(RunScripts(*build_instance_, req_.recipe->phases, env, EnvCapture::kYes));

    std::vector<PackageOutput> files;
    SF_RETURN_IF_ERROR(Step("collect", [&]() -> absl::Status {
      if (!req_.recipe->package_name.empty()) {
        return build_instance_->PullFile(layout.out + "/tree.tar", host_dir_ / "tree.tar");
      }
      for (const auto& name : req_.recipe->artifacts) {
        SF_RETURN_IF_ERROR(build_instance_->PullFile(layout.out + "/" + name, host_dir_ / "out" / name));
        files.push_back({host_dir_ / "out" / name, "other"});
      }
      return absl::OkStatus();
    }));
    // The build instance is not needed any more; free it before verify.
    SF_RETURN_IF_ERROR(deps_.provider->Destroy(std::move(build_instance_)));

    if (!req_.recipe->package_name.empty()) {
      SF_RETURN_IF_ERROR(Step("package", [&]() -> absl::Status {
        PackageInput in;
        in.tree_tar = host_dir_ / "tree.tar";
        in.work_dir = host_dir_ / "package";
        in.out_dir = host_dir_ / "out";
        in.package_name = req_.recipe->package_name;
        in.spec = spec;
        in.build_id = req_.build.id();
        in.digest = req_.build.digest();
        in.install_prefix = InstallPrefix(spec);
        in.phases = outcome_.phases;
        in.sources = sources_used_;
        SF_RETURN_IF_ERROR(MakeDirs(in.work_dir));
        SF_ASSIGN_OR_RETURN(files, deps_.package(in, [&](absl::string_view l) { sink_.Line(l); }));
        (void)RemoveAll(in.work_dir);
        (void)RemoveAll(in.tree_tar);
        return absl::OkStatus();
      }));
    }

    if (req_.build.verify() && !req_.recipe->verify.empty()) {
      SF_RETURN_IF_ERROR(Verify(files));
    }

    return Step("store", [&]() -> absl::Status {
      for (const auto& f : files) {
        SF_ASSIGN_OR_RETURN(v1::Artifact a,
                            deps_.artifacts->Put(f.path, f.path.filename().string(), f.kind));
        sink_.Line(absl::StrCat(a.sha256(), "  ", a.name(), " (", a.size(), " bytes)"));
        outcome_.artifacts.push_back(std::move(a));
      }
      return absl::OkStatus();
    });
  }

  absl::Status Verify(const std::vector<PackageOutput>& files) {
    std::unique_ptr<provider::Instance> instance;
    absl::Status s = Step("verify-instance", [&]() -> absl::Status {
      provider::InstanceRequest ir;
      ir.build_id = req_.build.id();
      ir.spec = req_.build.spec();
      ir.purpose = provider::InstancePurpose::kVerify;
      ir.cpus = deps_.instance_cpus;
      ir.memory_bytes = deps_.instance_memory_bytes;
      ir.packages = req_.recipe->packages;
      SF_ASSIGN_OR_RETURN(instance, deps_.provider->Create(ir, sink_, run_cancel_));
      return absl::OkStatus();
    });
    if (s.ok()) {
      const auto& layout = instance->layout();
      std::vector<std::string> env = BaseEnv(layout);
      std::string dir = layout.work + "/artifacts";
      env.push_back("SF_ARTIFACTS_DIR=" + dir);
      for (const auto& f : files) {
        std::string target = dir + "/" + f.path.filename().string();
        s = instance->PushFile(f.path, target);
        if (!s.ok()) break;
        if (f.kind == "software") env.push_back("SF_SOFTWARE_TARBALL=" + target);
        if (f.kind == "module") env.push_back("SF_MODULE_TARBALL=" + target);
      }
      if (s.ok()) s = RunScripts(*instance, req_.recipe->verify, env);
    }
    if (instance) {
      absl::Status d = deps_.provider->Destroy(std::move(instance));
      if (!d.ok()) sink_.Line(absl::StrCat("warning: could not remove verify instance: ", d.message()));
    }
    return s;
  }

  // A limit was passed: the first reason wins, and the run stops.
  void Trip(absl::Status why) {
    {
      absl::MutexLock lock(&step_mu_);
      if (!limit_.ok()) return;
      limit_ = std::move(why);
    }
    run_cancel_.Cancel();
  }
  // `s`, or the limit that stopped the run when `s` is the cancel it caused.
  absl::Status Tripped(absl::Status s) {
    if (s.ok() || !absl::IsCancelled(s) || cancel_.cancelled()) return s;
    absl::MutexLock lock(&step_mu_);
    return limit_.ok() ? s : limit_;
  }
  std::string running_step() {
    absl::MutexLock lock(&step_mu_);
    return running_.empty() ? "the start" : absl::StrCat("step ", running_);
  }
  static std::string HumanTime(absl::Duration d) { return absl::FormatDuration(d); }

  const RunnerDeps& deps_;
  const RunRequest& req_;
  LogSink sink_;
  provider::CancelToken& cancel_;
  provider::CancelToken run_cancel_;
  int forward_ = 0;
  absl::Mutex step_mu_;
  std::string running_ ABSL_GUARDED_BY(step_mu_);
  absl::Status limit_ ABSL_GUARDED_BY(step_mu_);
  const OnStep& on_step_;
  std::vector<std::string> planned_;
  std::unique_ptr<provider::Instance> build_instance_;
  fs::path host_dir_;
  RunOutcome outcome_;
  std::vector<v1::Source> sources_used_;  // for the manifest
  int step_ = 0;
  const fs::path log_path_;
  std::vector<std::string> build_env_;  // for a debug bundle
};

}  // namespace

std::string InstallPrefix(const v1::BuildSpec& spec) {
  return absl::StrCat("/opt/slurm/", SeriesOf(spec.slurm_version()));
}

RunOutcome Runner::Run(const RunRequest& request, BuildLog& log, provider::CancelToken& cancel,
                       const OnStep& on_step) {
  return ::sfactory::runner::Run(deps_, request, log, cancel, on_step).Execute();
}

}  // namespace sfactory::runner
