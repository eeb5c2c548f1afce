#include "daemon/build/manager.h"

#include <sys/stat.h>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/build_state.h"
#include "common/fs.h"
#include "common/status.h"
#include "common/units.h"
#include "google/protobuf/util/time_util.h"
#include "common/logging.h"

namespace sfactory::build {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

constexpr absl::Duration kProviderRecheck = absl::Seconds(5);

}  // namespace

std::string NewBuildId() {
  static const char kAlphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
  thread_local absl::BitGen gen;
  std::string id = "b";
  for (int i = 0; i < 9; ++i) id += kAlphabet[absl::Uniform(gen, 0u, 32u)];
  return id;
}

BuildManager::BuildManager(ManagerOptions options, store::Store* store,
                           provider::Provider* provider, const recipe::RecipeSet* recipes,
                           const Catalog* catalog, Runner* runner, Clock* clock)
    : options_(std::move(options)),
      store_(store),
      provider_(provider),
      recipes_(recipes),
      catalog_(catalog),
      runner_(runner),
      clock_(clock),
      scheduler_(options_.max_parallel_builds, options_.priority_aging, clock) {
  scheduler_.SetPaused(options_.queue_paused);
}

BuildManager::~BuildManager() { Shutdown(); }

std::filesystem::path BuildManager::LogPath(absl::string_view id) const {
  return options_.log_dir / absl::StrCat(id, ".log");
}

absl::Status BuildManager::Start() {
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
        *b.mutable_finished_at() = ToProto(clock_->Now());
        b.clear_current_phase();
        SF_RETURN_IF_ERROR(store_->UpdateBuild(rec, "failed: retry cap reached after restarts"));
        ++failed;
        continue;
      }
      b.set_state(v1::BUILD_STATE_QUEUED);
      b.clear_current_phase();
      SF_RETURN_IF_ERROR(store_->UpdateBuild(
          rec, absl::StrCat("requeued after a daemon restart (attempt ", b.attempt(), " of ",
                            options_.retry_cap, ")")));
      ++requeued;
    }
    absl::MutexLock lock(&mu_);
    scheduler_.Enqueue(
        scheduler::QueuedBuild{b.id(), b.priority(), rec.seq, b.owner(), FromProto(b.created_at())});
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
  dispatcher_ = std::thread([this] { DispatchLoop(); });
  return absl::OkStatus();
}

void BuildManager::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !dispatcher_.joinable()) return;
    stopping_ = true;
    ++wake_;
    for (auto& [id, a] : active_) a.cancel->Cancel();
  }
  if (dispatcher_.joinable()) dispatcher_.join();
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return active_.empty(); };
  if (!mu_.AwaitWithTimeout(absl::Condition(&idle), absl::Seconds(60))) {
    spdlog::error("{} builds did not stop within 60 s; they are requeued on the next start",
                  active_.size());
  }
}

absl::StatusOr<v1::Build> BuildManager::Resolve(const v1::BuildSpec& spec,
                                                const recipe::Recipe** recipe,
                                                const Release** release) const {
  SF_ASSIGN_OR_RETURN(v1::BuildSpec normalized, NormalizeSpec(spec, options_.defaults, *catalog_));
  const recipe::Recipe* r = recipes_->Find(normalized.recipe());
  if (!r) {
    std::vector<std::string> names;
    for (const auto* each : recipes_->All()) names.push_back(each->name);
    return absl::InvalidArgumentError(absl::StrCat("unknown recipe '", normalized.recipe(),
                                                   "'; this daemon has: ",
                                                   absl::StrJoin(names, ", ")));
  }
  for (const auto& v : normalized.variants()) {
    if (std::find(r->variants.begin(), r->variants.end(), v) == r->variants.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "recipe ", r->name, " has no variant '", v, "'",
          r->variants.empty() ? "; it takes none" : "; it takes: " + absl::StrJoin(r->variants, ", ")));
    }
  }
  if (normalized.arch() != options_.defaults.arch) {
    return absl::InvalidArgumentError(absl::StrCat("this daemon builds for ", options_.defaults.arch,
                                                   " only (no cross builds); got ",
                                                   normalized.arch()));
  }
  if (provider_->name() == "local" && normalized.os() != options_.defaults.os) {
    return absl::InvalidArgumentError(absl::StrCat("the local provider builds for the host (",
                                                   options_.defaults.os, ") only; got ",
                                                   normalized.os()));
  }
  auto rel = catalog_->Resolve(normalized.slurm_version());
  if (!rel.ok()) return rel.status();
  v1::Build b;
  *b.mutable_spec() = normalized;
  b.set_requested_version(spec.slurm_version());
  b.set_digest(SpecDigest(normalized, r->digest, r->fixed_source ? "" : (*rel)->digest));
  if (recipe) *recipe = r;
  if (release) *release = *rel;
  return b;
}

absl::StatusOr<SubmitResult> BuildManager::Submit(const v1::SubmitBuildRequest& request,
                                                  const std::string& owner_in) {
  std::string owner = owner_in.empty() ? "anonymous" : owner_in;
  if (request.request_id().size() > 128) {
    return absl::InvalidArgumentError("request_id is longer than 128 characters");
  }
  const recipe::Recipe* recipe = nullptr;
  SF_ASSIGN_OR_RETURN(v1::Build b, Resolve(request.spec(), &recipe, nullptr));
  bool verify = !request.no_verify() && options_.verify_by_default && !recipe->verify.empty();

  // Read-only answers first, without the submit lock: a replayed request_id
  // and a succeeded build stay what they are.
  if (!request.request_id().empty()) {
    SF_ASSIGN_OR_RETURN(auto prior, store_->FindByRequestId(owner, request.request_id()));
    if (prior) return Answer(std::move(prior->build), v1::SUBMIT_OUTCOME_REPLAYED);
  }
  if (!request.force()) {
    SF_ASSIGN_OR_RETURN(auto done, store_->FindSucceededByDigest(b.digest(), verify));
    if (done) return Answer(std::move(done->build), v1::SUBMIT_OUTCOME_REUSED);
  }
  // Joining and inserting must not interleave, or two identical submits
  // could both insert: one submitter at a time (the leader) decides and
  // inserts, for everything queued meanwhile at once (one transaction).
  PendingSubmit pending{&request, owner, std::move(b), verify};
  std::vector<PendingSubmit*> batch;
  {
    absl::MutexLock lock(&batch_mu_);
    batch_.push_back(&pending);
    // Wait for a leader to answer, or to become the leader.
    auto answered_or_leaderless = [&] { return pending.done || !batch_leader_; };
    batch_mu_.Await(absl::Condition(&answered_or_leaderless));
    if (pending.done) return std::move(pending.result);
    batch_leader_ = true;
    batch.swap(batch_);
  }
  DecideAndInsert(batch);
  // One batch per leader; whoever queued meanwhile leads the next. A
  // follower may return (and its PendingSubmit go away) once done is set.
  absl::MutexLock lock(&batch_mu_);
  for (PendingSubmit* p : batch) p->done = true;
  batch_leader_ = false;
  return std::move(pending.result);
}

void BuildManager::DecideAndInsert(const std::vector<PendingSubmit*>& batch) {
  // What this batch creates, and who joins or replays one of those.
  std::vector<PendingSubmit*> creators;
  std::vector<store::BuildRecord> created;
  struct Dependent {
    PendingSubmit* p;
    size_t index;  // into created
    v1::SubmitOutcome outcome;
  };
  std::vector<Dependent> dependents;
  created.reserve(batch.size());
  auto decide = [&](PendingSubmit& p) -> absl::Status {
    const v1::SubmitBuildRequest& request = *p.request;
    if (!request.request_id().empty()) {
      for (size_t i = 0; i < created.size(); ++i) {
        if (created[i].build.owner() == p.owner &&
            created[i].build.request_id() == request.request_id()) {
          dependents.push_back({&p, i, v1::SUBMIT_OUTCOME_REPLAYED});
          return absl::OkStatus();
        }
      }
      SF_ASSIGN_OR_RETURN(auto prior, store_->FindByRequestId(p.owner, request.request_id()));
      if (prior) {
        p.result = Answer(std::move(prior->build), v1::SUBMIT_OUTCOME_REPLAYED);
        return absl::OkStatus();
      }
    }
    if (!request.force()) {
      SF_ASSIGN_OR_RETURN(auto active, store_->FindActiveByDigest(p.build.digest()));
      if (active && (active->build.verify() || !p.verify)) {
        p.result = Answer(std::move(active->build), v1::SUBMIT_OUTCOME_JOINED);
        return absl::OkStatus();
      }
      for (size_t i = 0; i < created.size(); ++i) {
        if (created[i].build.digest() == p.build.digest() &&
            (created[i].build.verify() || !p.verify)) {
          dependents.push_back({&p, i, v1::SUBMIT_OUTCOME_JOINED});
          return absl::OkStatus();
        }
      }
    }
    store::BuildRecord& rec = created.emplace_back();
    rec.build = std::move(p.build);
    rec.build.set_id(NewBuildId());
    rec.build.set_state(v1::BUILD_STATE_QUEUED);
    rec.build.set_priority(request.priority());
    rec.build.set_owner(p.owner);
    rec.build.set_request_id(request.request_id());
    *rec.build.mutable_created_at() = ToProto(clock_->Now());
    rec.build.set_verify(p.verify);
    rec.build.set_provider(provider_->name());
    rec.keep_instance_on_failure = request.keep_instance_on_failure();
    creators.push_back(&p);
    return absl::OkStatus();
  };
  for (PendingSubmit* p : batch) {
    if (absl::Status s = decide(*p); !s.ok()) p->result = s;
  }
  if (created.empty()) return;

  std::vector<store::BuildRecord*> records;
  for (auto& rec : created) records.push_back(&rec);
  if (absl::Status s = store_->InsertBuilds(records); !s.ok()) {
    if (absl::IsResourceExhausted(s)) {
      s = absl::ResourceExhaustedError(absl::StrCat(
          "cannot queue the build: ", s.message(), " in ", options_.space_dir.string(),
          "; free space there and submit again (nothing stored was lost)"));
    }
    for (PendingSubmit* p : creators) p->result = s;
    for (const Dependent& d : dependents) d.p->result = s;
    return;
  }
  absl::MutexLock lock(&mu_);
  for (const auto& rec : created) {
    scheduler_.Enqueue({rec.build.id(), rec.build.priority(), rec.seq, rec.build.owner(),
                        clock_->Now()});
  }
  ++wake_;
  for (size_t i = 0; i < created.size(); ++i) {
    creators[i]->result = SubmitResult{Decorate(created[i].build), v1::SUBMIT_OUTCOME_CREATED};
  }
  for (const Dependent& d : dependents) {
    d.p->result = SubmitResult{Decorate(created[d.index].build), d.outcome};
  }
}

SubmitResult BuildManager::Answer(v1::Build build, v1::SubmitOutcome outcome) {
  absl::MutexLock lock(&mu_);
  return SubmitResult{Decorate(std::move(build)), outcome};
}

v1::Build BuildManager::Decorate(v1::Build b) const {
  if (b.state() == v1::BUILD_STATE_QUEUED) {
    b.set_queue_position(scheduler_.Position(b.id()));
  } else {
    b.clear_queue_position();
  }
  auto it = active_.find(b.id());
  if (it != active_.end()) {
    b.set_log_size(it->second.log->size());
  } else {
    struct stat st;
    b.set_log_size(::stat(LogPath(b.id()).c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0);
  }
  return b;
}

absl::StatusOr<v1::Build> BuildManager::Get(absl::string_view id) {
  SF_ASSIGN_OR_RETURN(store::BuildRecord rec, store_->GetBuild(id));
  absl::MutexLock lock(&mu_);
  return Decorate(std::move(rec.build));
}

absl::StatusOr<store::ListResult> BuildManager::List(const store::ListFilter& filter) {
  SF_ASSIGN_OR_RETURN(store::ListResult result, store_->ListBuilds(filter));
  absl::MutexLock lock(&mu_);
  for (auto& b : result.builds) b = Decorate(std::move(b));
  return result;
}

absl::StatusOr<v1::Build> BuildManager::Cancel(absl::string_view id, absl::string_view reason) {
  SF_ASSIGN_OR_RETURN(store::BuildRecord rec, store_->GetBuild(id));
  std::string why = reason.empty() ? "cancelled by request" : absl::StrCat("cancelled: ", reason);
  absl::MutexLock lock(&mu_);
  if (scheduler_.Remove(rec.build.id())) {
    rec.build.set_state(v1::BUILD_STATE_CANCELLED);
    rec.build.set_error(why);
    *rec.build.mutable_finished_at() = ToProto(clock_->Now());
    absl::Status s = store_->UpdateBuild(rec, why);
    if (!s.ok()) {
      // Keep memory and disk in agreement: it is still queued.
      scheduler_.Enqueue({rec.build.id(), rec.build.priority(), rec.seq, rec.build.owner(),
                          FromProto(rec.build.created_at())});
      return s;
    }
    return Decorate(std::move(rec.build));
  }
  auto it = active_.find(rec.build.id());
  if (it != active_.end()) {
    it->second.cancel_requested = true;
    it->second.cancel_reason = why;
    (void)it->second.log->Append(absl::StrCat("==> ", why, "\n"));
    it->second.cancel->Cancel();
    return Decorate(std::move(rec.build));
  }
  return absl::FailedPreconditionError(absl::StrCat("build ", id, " has already ",
                                                    BuildStateName(rec.build.state()),
                                                    "; there is nothing to cancel"));
}

std::shared_ptr<BuildLog> BuildManager::ActiveLog(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(id);
  return it == active_.end() ? nullptr : it->second.log;
}

int BuildManager::running() const {
  absl::MutexLock lock(&mu_);
  return scheduler_.running();
}

int BuildManager::queued() const {
  absl::MutexLock lock(&mu_);
  return scheduler_.queued();
}

std::string BuildManager::provider_problem() const {
  absl::MutexLock lock(&mu_);
  return provider_problem_;
}

std::string BuildManager::disk_problem() const {
  if (options_.min_free_bytes == 0) return "";
  absl::StatusOr<uint64_t> free = FreeBytes(options_.space_dir);
  if (!free.ok()) return std::string(free.status().message());
  if (*free >= options_.min_free_bytes) return "";
  return absl::StrCat("the state dir ", options_.space_dir.string(), " has ",
                      FormatByteSize(*free), " free, less than min_free_space (",
                      FormatByteSize(options_.min_free_bytes),
                      "): free space on that filesystem (`sfactory cache usage` shows where it "
                      "goes; `sfactory images prune` removes expired base images); queued "
                      "builds start once there is room");
}

void BuildManager::SetPaused(bool paused) {
  absl::MutexLock lock(&mu_);
  scheduler_.SetPaused(paused);
  ++wake_;
}

absl::Status BuildManager::RefreshProvider() {
  absl::Status s = provider_->Check();
  absl::MutexLock lock(&mu_);
  std::string problem = s.ok() ? "" : std::string(s.message());
  if (problem != provider_problem_) {
    if (problem.empty()) spdlog::info("provider {} is usable again", provider_->name());
    else spdlog::warn("provider {} is not usable: {}", provider_->name(), problem);
  }
  provider_problem_ = problem;
  provider_checked_at_ = clock_->Now();
  return s;
}

void BuildManager::DispatchLoop() {
  uint64_t seen = 0;
  for (;;) {
    bool want = false;
    bool check = false;
    {
      absl::MutexLock lock(&mu_);
      auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || wake_ != seen; };
      mu_.AwaitWithTimeout(absl::Condition(&changed), absl::Seconds(2));
      if (stopping_) return;
      seen = wake_;
      want = !scheduler_.paused() && scheduler_.queued() > 0 &&
             scheduler_.running() < options_.max_parallel_builds;
      check = !provider_problem_.empty() ||
              clock_->Now() - provider_checked_at_ > kProviderRecheck;
    }
    if (!want) continue;
    if (check && !RefreshProvider().ok()) continue;  // builds stay queued
    std::string disk = disk_problem();
    absl::MutexLock lock(&mu_);
    if (disk != disk_problem_) {
      if (disk.empty()) spdlog::info("the state dir has room again; starting queued builds");
      else spdlog::warn("not starting builds: {}", disk);
      disk_problem_ = disk;
    }
    if (!disk.empty()) continue;  // builds stay queued
    if (stopping_) return;
    while (auto next = scheduler_.Next()) StartBuild(*next);
  }
}

void BuildManager::StartBuild(const scheduler::QueuedBuild& next) {
  auto log = BuildLog::Open(LogPath(next.build_id));
  if (!log.ok()) {
    spdlog::error("cannot open the log of {}: {}; it stays queued", next.build_id,
                  log.status().message());
    scheduler_.Finished(next.build_id);
    scheduler_.Enqueue(next);
    return;
  }
  Active& a = active_[next.build_id];
  a.log = *log;
  a.cancel = std::make_unique<provider::CancelToken>();
  a.thread = std::thread([this, id = next.build_id] { RunBuild(id); });
  a.thread.detach();
}

void BuildManager::RunBuild(std::string id) {
  std::shared_ptr<BuildLog> log;
  provider::CancelToken* cancel;
  {
    absl::MutexLock lock(&mu_);
    log = active_[id].log;
    cancel = active_[id].cancel.get();
  }
  auto finish_active = [&] {
    log->Close();
    absl::MutexLock lock(&mu_);
    scheduler_.Finished(id);
    active_.erase(id);
    ++wake_;
  };
  auto rec = store_->GetBuild(id);
  if (!rec.ok()) {
    spdlog::error("build {} vanished from the store: {}", id, rec.status().message());
    finish_active();
    return;
  }
  v1::Build& b = rec->build;
  b.set_state(v1::BUILD_STATE_RUNNING);
  b.set_attempt(b.attempt() + 1);
  *b.mutable_started_at() = ToProto(clock_->Now());
  b.clear_error();
  b.clear_phases();
  b.set_provider(provider_->name());
  (void)store_->StartAttempt(id, b.attempt(), clock_->Now());
  if (absl::Status s = store_->UpdateBuild(*rec, absl::StrCat("started attempt ", b.attempt()));
      !s.ok()) {
    spdlog::error("cannot record the start of {}: {}; it stays queued", id, s.message());
    finish_active();
    absl::MutexLock lock(&mu_);
    scheduler_.Enqueue({id, b.priority(), rec->seq, b.owner(), FromProto(b.created_at())});
    return;
  }
  log->Touch();

  RunOutcome outcome;
  const recipe::Recipe* recipe = nullptr;
  const Release* release = nullptr;
  auto resolved = Resolve(b.spec(), &recipe, &release);
  if (!resolved.ok()) {
    outcome.error = absl::StrCat("the spec no longer resolves: ", resolved.status().message());
    (void)log->Append(absl::StrCat("==> ", outcome.error, "\n"));
  } else {
    if (resolved->digest() != b.digest()) {
      (void)log->Append(absl::StrCat("==> note: the recipe or catalog changed since submission; "
                                     "building with the current one (digest ",
                                     resolved->digest(), ")\n"));
      b.set_digest(resolved->digest());
    }
    RunRequest req{b, recipe, recipe->fixed_source ? nullptr : release, rec->keep_instance_on_failure};
    outcome = runner_->Run(req, *log, *cancel, [&](const std::string& phase) {
      b.set_current_phase(phase);
      (void)store_->UpdateBuild(*rec);
      log->Touch();
    });
  }

  bool requeue;
  {
    absl::MutexLock lock(&mu_);
    const Active& a = active_[id];
    requeue = stopping_ && !a.cancel_requested && outcome.state == v1::BUILD_STATE_CANCELLED;
    if (a.cancel_requested && outcome.state == v1::BUILD_STATE_CANCELLED) {
      outcome.error = absl::StrCat(a.cancel_reason, " (during ", outcome.phases.empty() ? "start" : outcome.phases.back().name(), ")");
    }
  }
  b.clear_current_phase();
  std::string message;
  if (!requeue && outcome.provider_unavailable && outcome.state == v1::BUILD_STATE_FAILED) {
    requeue = true;
    message = absl::StrCat("requeued: the provider is not usable (", outcome.error,
                           "); it starts again when the provider is back");
    (void)log->Append(absl::StrCat("==> ", message, "\n"));
    absl::MutexLock lock(&mu_);
    provider_checked_at_ = absl::InfinitePast();  // the dispatcher re-checks first
  }
  if (requeue) {
    b.set_state(v1::BUILD_STATE_QUEUED);
    b.set_attempt(b.attempt() - 1);  // neither a shutdown nor a provider outage counts
    if (message.empty()) message = "requeued: the daemon is shutting down";
  } else {
    b.set_state(outcome.state);
    b.set_error(outcome.error);
    *b.mutable_finished_at() = ToProto(clock_->Now());
    for (auto& a : outcome.artifacts) *b.add_artifacts() = a;
    message = outcome.error.empty() ? BuildStateName(outcome.state) : outcome.error;
  }
  for (auto& p : outcome.phases) *b.add_phases() = p;
  if (absl::Status s = store_->UpdateBuild(*rec, message); !s.ok()) {
    spdlog::error("cannot record the end of build {}: {}; it will be requeued on restart", id,
                  s.message());
  }
  (void)store_->FinishAttempt(id, b.attempt(), clock_->Now(), requeue ? "requeued" : BuildStateName(outcome.state));
  spdlog::info("build {} {}", id, message);
  finish_active();
  if (requeue) {
    absl::MutexLock lock(&mu_);
    scheduler_.Enqueue({id, b.priority(), rec->seq, b.owner(), FromProto(b.created_at())});
  }
}

}  // namespace sfactory::build
