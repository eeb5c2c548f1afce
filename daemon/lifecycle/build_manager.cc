#include "daemon/lifecycle/build_manager.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/atomic_file.h"
#include "common/build_state.h"
#include "common/echo.h"
#include "common/fs.h"
#include "common/logging.h"
#include "common/status.h"
#include "common/timestamps.h"

namespace sfactory::lifecycle {
namespace {

queue::QueuedBuild Queued(const store::BuildRecord& rec) {
  const v1::Build& b = rec.build;
  return {b.id(), b.priority(), rec.seq, b.owner(), FromTimestamp(b.created_at())};
}

// Forgets what a run reported while it ran (current step, plan, finished
// steps), for a build that ends or goes back to the queue.
void ClearRunProgress(v1::Build& b) {
  b.clear_current_phase();
  b.clear_current_phase_started_at();
  b.clear_planned_phases();
  b.clear_phases();
}

// The pause file: "by\nunix seconds\nreason".
std::string PauseText(const v1::QueueStatus& q) {
  return absl::StrCat(q.paused_by(), "\n", q.paused_at().seconds(), "\n", q.reason(), "\n");
}

v1::QueueStatus ParsePause(absl::string_view text) {
  std::vector<std::string> lines = absl::StrSplit(text, absl::MaxSplits('\n', 2));
  v1::QueueStatus q;
  q.set_paused(true);
  if (!lines.empty()) q.set_paused_by(lines[0]);
  int64_t at = 0;
  if (lines.size() > 1 && absl::SimpleAtoi(lines[1], &at)) q.mutable_paused_at()->set_seconds(at);
  if (lines.size() > 2) q.set_reason(std::string(absl::StripTrailingAsciiWhitespace(lines[2])));
  return q;
}

}  // namespace

BuildManager::BuildManager(ManagerOptions options, store::Store* store,
                           provider::Provider* provider, const recipe::RecipeSet* recipes,
                           const Catalog* catalog, runner::Runner* runner, Clock* clock)
    : options_(std::move(options)),
      store_(store),
      provider_(provider),
      recipes_(recipes),
      catalog_(catalog),
      runner_(runner),
      clock_(clock),
      dispatcher_({options_.max_parallel_builds, options_.priority_aging, options_.queue_paused,
                   options_.space_dir, options_.min_free_bytes},
                  provider, clock, [this](const queue::QueuedBuild& b) { return StartBuild(b); }),
      submitter_({options_.defaults, options_.verify_by_default, options_.space_dir}, store,
                 provider, recipes, catalog, clock, this) {}

BuildManager::~BuildManager() { Shutdown(); }

std::filesystem::path BuildManager::LogPath(absl::string_view id) const {
  return options_.log_dir / absl::StrCat(id, ".log");
}

std::filesystem::path BuildManager::DebugDir(absl::string_view id) const {
  return options_.log_dir / absl::StrCat(id, ".debug");
}

std::filesystem::path BuildManager::DebugBundlePath(absl::string_view id) const {
  return options_.log_dir / absl::StrCat(id, ".debug.tar.gz");
}

absl::Status BuildManager::Start() {
  {
    absl::MutexLock lock(&pause_mu_);
    if (!options_.pause_file.empty()) {
      if (auto text = ReadFile(options_.pause_file); text.ok()) pause_ = ParsePause(*text);
    }
    if (options_.queue_paused && !pause_.paused()) {
      pause_.set_paused(true);
      pause_.set_paused_by("config");
      pause_.set_reason("queue_paused: true");
      *pause_.mutable_paused_at() = ToTimestamp(clock_->Now());
    }
    if (pause_.paused()) {
      dispatcher_.SetPaused(true);
      spdlog::warn("the queue is paused (by {}: {}); `sfactory queue resume` starts builds again",
                   pause_.paused_by(), pause_.reason());
    }
  }
  SF_ASSIGN_OR_RETURN(std::vector<store::BuildRecord> unfinished, store_->LoadUnfinished());
  int requeued = 0, failed = 0;
  for (auto& rec : unfinished) {
    v1::Build& b = rec.build;
    if (b.state() == v1::BUILD_STATE_RUNNING) {
      if (b.attempt() >= options_.retry_cap) {
        b.set_state(v1::BUILD_STATE_FAILED);
        b.set_error(absl::StrCat("the daemon stopped ", b.attempt(),
                                 " times while this build ran; giving up (retry_cap ",
                                 options_.retry_cap, "). Resubmit with --force to try again"));
        *b.mutable_finished_at() = ToTimestamp(clock_->Now());
        ClearRunProgress(b);
        SF_RETURN_IF_ERROR(store_->UpdateBuild(rec, "failed: retry cap reached after restarts"));
        ++failed;
        continue;
      }
      b.set_state(v1::BUILD_STATE_QUEUED);
      ClearRunProgress(b);
      SF_RETURN_IF_ERROR(store_->UpdateBuild(
          rec, absl::StrCat("requeued after a daemon restart (attempt ", b.attempt(), " of ",
                            options_.retry_cap, ")")));
      ++requeued;
    }
    dispatcher_.Enqueue(Queued(rec));
  }
  spdlog::info("recovered {} unfinished builds: {} requeued after a restart, {} failed at the "
               "retry cap", unfinished.size(), requeued, failed);
  if (absl::Status s = provider_->Check(); s.ok()) {
    auto removed = provider_->RemoveOrphans({});
    if (removed.ok() && *removed > 0) spdlog::info("removed {} orphaned instances", *removed);
    if (!removed.ok()) spdlog::warn("could not remove orphaned instances: {}", removed.status().message());
  } else {
    spdlog::warn("provider {} is not usable yet: {}", provider_->name(), s.message());
  }
  dispatcher_.Start();
  return absl::OkStatus();
}

void BuildManager::Shutdown() {
  dispatcher_.Stop();  // nothing starts after this
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  for (auto& [id, a] : active_) a.cancel->Cancel();
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return active_.empty(); };
  if (!mu_.AwaitWithTimeout(absl::Condition(&idle), options_.stop_timeout)) {
    spdlog::error("{} builds did not stop within {}; they are requeued on the next start",
                  active_.size(), absl::FormatDuration(options_.stop_timeout));
  }
}

absl::StatusOr<SubmitResult> BuildManager::Submit(const v1::SubmitBuildRequest& request,
                                                  const std::string& owner) {
  return submitter_.Submit(request, owner);
}

void BuildManager::Admit(const std::vector<store::BuildRecord>& created) {
  for (const auto& rec : created) {
    queue::QueuedBuild q = Queued(rec);
    q.enqueued_at = clock_->Now();
    dispatcher_.Enqueue(q);
  }
}

v1::Build BuildManager::Present(v1::Build b) {
  if (b.state() == v1::BUILD_STATE_QUEUED) {
    b.set_queue_position(dispatcher_.Position(b.id()));
  } else {
    b.clear_queue_position();
  }
  std::shared_ptr<runner::BuildLog> log = ActiveLog(b.id());
  if (log) {
    b.set_log_size(log->size());
  } else {
    struct stat st;
    b.set_log_size(::stat(LogPath(b.id()).c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0);
  }
  return b;
}

namespace {
// Ids that cannot exist are answered without echoing them whole.
absl::Status NoSuchBuild(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("no build ", EchoInput(id, 40),
                                          " (build ids look like b7k2m9q4xz; see sfactory list)"));
}
}  // namespace

absl::StatusOr<v1::Build> BuildManager::Get(absl::string_view id) {
  if (!queue::IsBuildId(id)) return NoSuchBuild(id);
  SF_ASSIGN_OR_RETURN(store::BuildRecord rec, store_->GetBuild(id));
  return Present(std::move(rec.build));
}

absl::StatusOr<store::ListResult> BuildManager::List(const store::ListFilter& filter) {
  SF_ASSIGN_OR_RETURN(store::ListResult result, store_->ListBuilds(filter));
  for (auto& b : result.builds) b = Present(std::move(b));
  return result;
}

absl::StatusOr<v1::Build> BuildManager::Cancel(absl::string_view id, absl::string_view reason) {
  if (!queue::IsBuildId(id)) return NoSuchBuild(id);
  SF_ASSIGN_OR_RETURN(store::BuildRecord rec, store_->GetBuild(id));
  std::string why = reason.empty() ? "cancelled by request" : absl::StrCat("cancelled: ", reason);
  if (dispatcher_.Remove(rec.build.id())) {
    rec.build.set_state(v1::BUILD_STATE_CANCELLED);
    rec.build.set_error(why);
    *rec.build.mutable_finished_at() = ToTimestamp(clock_->Now());
    if (absl::Status s = store_->UpdateBuild(rec, why); !s.ok()) {
      // Keep memory and disk in agreement: it is still queued.
      dispatcher_.Enqueue(Queued(rec));
      return s;
    }
    return Present(std::move(rec.build));
  }
  // Not queued: running (a build being started is registered before the
  // dispatcher lets go of it), or finished.
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(rec.build.id());
    if (it != active_.end()) {
      it->second.cancel_requested = true;
      it->second.cancel_reason = why;
      (void)it->second.log->Append(absl::StrCat("==> ", why, "\n"));
      it->second.cancel->Cancel();
    } else {
      return absl::FailedPreconditionError(absl::StrCat("build ", id, " has already ",
                                                        BuildStateName(rec.build.state()),
                                                        "; there is nothing to cancel"));
    }
  }
  return Present(std::move(rec.build));
}

std::shared_ptr<runner::BuildLog> BuildManager::ActiveLog(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(id);
  return it == active_.end() ? nullptr : it->second.log;
}

bool BuildManager::StartBuild(const queue::QueuedBuild& next) {
  auto log = runner::BuildLog::Open(LogPath(next.build_id));
  if (!log.ok()) {
    spdlog::error("cannot open the log of {}: {}; it stays queued", next.build_id,
                  log.status().message());
    return false;
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  Active& a = active_[next.build_id];
  a.queued = next;
  a.log = *log;
  a.cancel = std::make_unique<provider::CancelToken>();
  std::thread([this, id = next.build_id] { RunBuild(id); }).detach();
  return true;
}

void BuildManager::RunBuild(const std::string& id) {
  std::shared_ptr<runner::BuildLog> log;
  provider::CancelToken* cancel;
  queue::QueuedBuild queued;
  {
    absl::MutexLock lock(&mu_);
    Active& a = active_[id];
    log = a.log;
    cancel = a.cancel.get();
    queued = a.queued;
  }
  auto release = [&](bool requeue) {
    log->Close();
    {
      absl::MutexLock lock(&mu_);
      active_.erase(id);
    }
    dispatcher_.Finished(queued, requeue);
  };
  auto rec = store_->GetBuild(id);
  if (!rec.ok()) {
    spdlog::error("build {} vanished from the store: {}", id, rec.status().message());
    release(false);
    return;
  }
  queued = Queued(*rec);  // a requeue ages from submission, as after a restart
  v1::Build& b = rec->build;
  b.set_state(v1::BUILD_STATE_RUNNING);
  b.set_attempt(b.attempt() + 1);
  *b.mutable_started_at() = ToTimestamp(clock_->Now());
  b.clear_error();
  b.clear_phases();
  b.clear_debug_bundle();  // the runner removes the files of an earlier attempt
  b.set_provider(provider_->name());
  (void)store_->StartAttempt(id, b.attempt(), clock_->Now());
  if (absl::Status s = store_->UpdateBuild(*rec, absl::StrCat("started attempt ", b.attempt()));
      !s.ok()) {
    spdlog::error("cannot record the start of {}: {}; it stays queued", id, s.message());
    release(true);
    return;
  }
  log->Touch();
  runner::RunOutcome outcome = Execute(*rec, *log, *cancel);
  Finish(*rec, std::move(outcome), *log);
  release(b.state() == v1::BUILD_STATE_QUEUED);
}

runner::RunOutcome BuildManager::Execute(store::BuildRecord& rec, runner::BuildLog& log,
                                         provider::CancelToken& cancel) {
  v1::Build& b = rec.build;
  runner::RunOutcome outcome;
  auto resolved = queue::ResolveSpec(b.spec(), options_.defaults, *catalog_, *recipes_, *provider_);
  if (!resolved.ok()) {
    outcome.error = absl::StrCat("the spec no longer resolves: ", resolved.status().message());
    (void)log.Append(absl::StrCat("==> ", outcome.error, "\n"));
    return outcome;
  }
  if (resolved->build.digest() != b.digest()) {
    (void)log.Append(absl::StrCat("==> note: the recipe or catalog changed since submission; "
                                  "building with the current one (digest ",
                                  resolved->build.digest(), ")\n"));
    b.set_digest(resolved->build.digest());
  }
  const recipe::Recipe* recipe = resolved->recipe;
  runner::RunRequest req{b, recipe, recipe->fixed_source ? nullptr : resolved->release,
                         rec.keep_instance_on_failure,
                         queue::BuildWarnings(*resolved, *catalog_, clock_->Now()),
                         DebugDir(b.id()), DebugBundlePath(b.id())};
  return runner_->Run(req, log, cancel, [&](const runner::StepUpdate& step) {
    b.set_current_phase(step.name);
    *b.mutable_current_phase_started_at() = ToTimestamp(clock_->Now());
    b.mutable_planned_phases()->Assign(step.planned.begin(), step.planned.end());
    b.mutable_phases()->Assign(step.done.begin(), step.done.end());
    (void)store_->UpdateBuild(rec);
    log.Touch();
  });
}

void BuildManager::Finish(store::BuildRecord& rec, runner::RunOutcome outcome,
                          runner::BuildLog& log) {
  v1::Build& b = rec.build;
  const std::string& id = b.id();
  bool requeue;
  {
    absl::MutexLock lock(&mu_);
    const Active& a = active_[id];
    requeue = stopping_ && !a.cancel_requested && outcome.state == v1::BUILD_STATE_CANCELLED;
    if (a.cancel_requested && outcome.state == v1::BUILD_STATE_CANCELLED) {
      outcome.error = absl::StrCat(a.cancel_reason, " (during ",
                                   outcome.phases.empty() ? "start" : outcome.phases.back().name(),
                                   ")");
    }
  }
  ClearRunProgress(b);  // the outcome's phases are the whole list
  std::string message;
  if (!requeue && outcome.provider_unavailable && outcome.state == v1::BUILD_STATE_FAILED) {
    requeue = true;
    message = absl::StrCat("requeued: the provider is not usable (", outcome.error,
                           "); it starts again when the provider is back");
    (void)log.Append(absl::StrCat("==> ", message, "\n"));
    dispatcher_.RecheckProvider();
  }
  if (requeue) {
    b.set_state(v1::BUILD_STATE_QUEUED);
    b.set_attempt(b.attempt() - 1);  // neither a shutdown nor a provider outage counts
    if (message.empty()) message = "requeued: the daemon is shutting down";
  } else {
    b.set_state(outcome.state);
    b.set_error(outcome.error);
    *b.mutable_finished_at() = ToTimestamp(clock_->Now());
    for (auto& a : outcome.artifacts) *b.add_artifacts() = a;
    if (outcome.debug_bundle && outcome.state == v1::BUILD_STATE_FAILED) {
      *b.mutable_debug_bundle() = *outcome.debug_bundle;
    }
    message = outcome.error.empty() ? BuildStateName(outcome.state) : outcome.error;
  }
  for (auto& p : outcome.phases) *b.add_phases() = p;
  if (absl::Status s = store_->UpdateBuild(rec, message); !s.ok()) {
    spdlog::error("cannot record the end of build {}: {}; it will be requeued on restart", id,
                  s.message());
  }
  if (!requeue) options_.metrics->BuildFinished(b);
  (void)store_->FinishAttempt(id, b.attempt(), clock_->Now(),
                              requeue ? "requeued" : BuildStateName(outcome.state));
  spdlog::info("build {} {}", id, message);
}

absl::StatusOr<v1::QueueStatus> BuildManager::SetQueuePaused(bool paused, const std::string& by,
                                                             const std::string& reason) {
  absl::MutexLock lock(&pause_mu_);
  v1::QueueStatus next;
  if (paused) {
    next.set_paused(true);
    next.set_paused_by(by);
    next.set_reason(reason);
    *next.mutable_paused_at() = ToTimestamp(clock_->Now());
  }
  if (!options_.pause_file.empty()) {
    if (paused) {
      SF_RETURN_IF_ERROR(WriteFileAtomic(options_.pause_file, PauseText(next)));
    } else if (::unlink(options_.pause_file.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("remove ", options_.pause_file.string()));
    }
  }
  pause_ = next;
  dispatcher_.SetPaused(paused);
  spdlog::info("queue {} by {}{}{}", paused ? "paused" : "resumed", by, reason.empty() ? "" : ": ",
               reason);
  v1::QueueStatus out = pause_;
  out.set_queued_builds(dispatcher_.queued());
  out.set_running_builds(dispatcher_.running());
  return out;
}

v1::QueueStatus BuildManager::queue_status() const {
  absl::MutexLock lock(&pause_mu_);
  v1::QueueStatus out = pause_;
  out.set_queued_builds(dispatcher_.queued());
  out.set_running_builds(dispatcher_.running());
  return out;
}

}  // namespace sfactory::lifecycle
