// A build's life from queued to finished, tying the queue (submit, dedupe,
// dispatch), the runner (one build's steps and its log) and the store:
// restart recovery, starting a dispatched build, recording its end
// (requeueing it after a shutdown or a provider outage), cancel, and the
// live view (queue position, log size) of every build.
//
// Thread-safety: every public method may be called from any thread.
// Lock order: the dispatcher's lock, then mu_ (the dispatcher calls
// StartBuild with its lock held); mu_ is never held while calling into the
// dispatcher or the submitter.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/catalog.h"
#include "common/clock.h"
#include "common/spec.h"
#include "daemon/metrics/recorder.h"
#include "daemon/queue/dispatcher.h"
#include "daemon/queue/submitter.h"
#include "daemon/recipe/recipe.h"
#include "daemon/runner/build_log.h"
#include "daemon/runner/runner.h"
#include "daemon/store/store.h"

namespace sfactory::lifecycle {

using queue::SubmitResult;

struct ManagerOptions {
  std::filesystem::path log_dir;
  // Builds start only while the filesystem of `space_dir` (the state dir)
  // has `min_free_bytes` free (0 = no check); they stay queued meanwhile.
  std::filesystem::path space_dir;
  uint64_t min_free_bytes = 0;
  int max_parallel_builds = 2;
  int retry_cap = 3;
  absl::Duration priority_aging = absl::Minutes(10);
  bool queue_paused = false;
  bool verify_by_default = true;
  SpecDefaults defaults;
  // How long Shutdown() waits for running builds to stop.
  absl::Duration stop_timeout = absl::Seconds(60);
  // Where a pause is kept across restarts (empty: not kept).
  std::filesystem::path pause_file;
  // Told about every build that ends (metrics_listen).
  metrics::Recorder* metrics = &metrics::NullRecorder();
};

class BuildManager : private queue::SubmitTarget {
 public:
  BuildManager(ManagerOptions options, store::Store* store, provider::Provider* provider,
               const recipe::RecipeSet* recipes, const Catalog* catalog, runner::Runner* runner,
               Clock* clock);
  ~BuildManager() override;

  // Recovers what a previous daemon left (requeues builds that were
  // running, or fails them at the retry cap; removes orphaned instances)
  // and starts the dispatcher.
  absl::Status Start();
  // Stops starting builds, stops running ones and requeues them (they run
  // again on the next start), closes every log. Waits up to stop_timeout
  // for them. Idempotent.
  void Shutdown();

  absl::StatusOr<SubmitResult> Submit(const v1::SubmitBuildRequest& request,
                                      const std::string& owner);
  absl::StatusOr<v1::Build> Get(absl::string_view id);
  absl::StatusOr<store::ListResult> List(const store::ListFilter& filter);
  // Owner-or-admin checks belong to the caller (auth).
  absl::StatusOr<v1::Build> Cancel(absl::string_view id, absl::string_view reason);

  // The live log of a running build, or null when it is not running.
  std::shared_ptr<runner::BuildLog> ActiveLog(absl::string_view id);
  std::filesystem::path LogPath(absl::string_view id) const;
  // Beside the log, so that whatever removes a build's log (a future GC)
  // removes these with it: the debug tree a failed build keeps, and the
  // bundle archived from it (runner/debug_bundle.h).
  std::filesystem::path DebugDir(absl::string_view id) const;
  std::filesystem::path DebugBundlePath(absl::string_view id) const;

  int running() const { return dispatcher_.running(); }
  int queued() const { return dispatcher_.queued(); }
  std::string provider_problem() const { return dispatcher_.provider_problem(); }
  std::string disk_problem() const { return dispatcher_.disk_problem(); }
  // Maintenance: while paused builds are accepted and queued but none
  // starts. With options.pause_file the pause (who, when, why) is kept there
  // and survives a restart. Fails only when the file cannot be written.
  absl::StatusOr<v1::QueueStatus> SetQueuePaused(bool paused, const std::string& by,
                                                 const std::string& reason);
  v1::QueueStatus queue_status() const;

 private:
  struct Active {
    queue::QueuedBuild queued;
    std::shared_ptr<runner::BuildLog> log;
    std::unique_ptr<provider::CancelToken> cancel;
    bool cancel_requested = false;
    std::string cancel_reason;
  };

  // queue::SubmitTarget
  void Admit(const std::vector<store::BuildRecord>& created) override;
  v1::Build Present(v1::Build build) override;

  // Called by the dispatcher: registers the build and starts its thread.
  bool StartBuild(const queue::QueuedBuild& next) ABSL_LOCKS_EXCLUDED(mu_);
  void RunBuild(const std::string& id);
  // Runs the build's steps; the outcome says how it ended.
  runner::RunOutcome Execute(store::BuildRecord& rec, runner::BuildLog& log,
                             provider::CancelToken& cancel);
  // Records the end of a run: the final state, or back to QUEUED.
  void Finish(store::BuildRecord& rec, runner::RunOutcome outcome, runner::BuildLog& log);

  const ManagerOptions options_;
  store::Store* const store_;
  provider::Provider* const provider_;
  const recipe::RecipeSet* const recipes_;
  const Catalog* const catalog_;
  runner::Runner* const runner_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  // Its own lock: taken before the dispatcher's, never while holding mu_
  // (the dispatcher calls StartBuild, which takes mu_, under its own lock).
  mutable absl::Mutex pause_mu_;
  v1::QueueStatus pause_ ABSL_GUARDED_BY(pause_mu_);  // paused, reason, by, at
  std::map<std::string, Active, std::less<>> active_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  queue::Dispatcher dispatcher_;
  queue::Submitter submitter_;
};

}  // namespace sfactory::lifecycle
