// The build queue as a whole: submit (with dedupe and idempotent retries),
// get, list, cancel, restart recovery, and the dispatcher that starts builds
// on the provider as slots free up.
//
// Thread-safety: every public method may be called from any thread.
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
#include "daemon/build/build_log.h"
#include "daemon/build/runner.h"
#include "daemon/recipe/recipe.h"
#include "daemon/scheduler/scheduler.h"
#include "daemon/store/store.h"

namespace sfactory::build {

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
};

struct SubmitResult {
  v1::Build build;
  v1::SubmitOutcome outcome = v1::SUBMIT_OUTCOME_UNSPECIFIED;
};

class BuildManager {
 public:
  BuildManager(ManagerOptions options, store::Store* store, provider::Provider* provider,
               const recipe::RecipeSet* recipes, const Catalog* catalog, Runner* runner,
               Clock* clock);
  ~BuildManager();

  // Recovers what a previous daemon left (requeues or fails builds that were
  // running, removes orphaned instances) and starts the dispatcher.
  absl::Status Start();
  // Stops starting builds, stops running ones and requeues them (they run
  // again on the next start), closes every log. Idempotent.
  void Shutdown();

  absl::StatusOr<SubmitResult> Submit(const v1::SubmitBuildRequest& request,
                                      const std::string& owner);
  absl::StatusOr<v1::Build> Get(absl::string_view id);
  absl::StatusOr<store::ListResult> List(const store::ListFilter& filter);
  // Owner-or-admin checks belong to the caller (auth).
  absl::StatusOr<v1::Build> Cancel(absl::string_view id, absl::string_view reason);

  // The live log of a running build, or null when it is not running.
  std::shared_ptr<BuildLog> ActiveLog(absl::string_view id);
  std::filesystem::path LogPath(absl::string_view id) const;

  int running() const;
  int queued() const;
  // Empty when the provider can run builds; otherwise what is wrong.
  std::string provider_problem() const;
  // Empty when the state dir has min_free_bytes free; otherwise how much it
  // has and what to do. Asked afresh on each call.
  std::string disk_problem() const;
  void SetPaused(bool paused);

 private:
  struct Active {
    std::shared_ptr<BuildLog> log;
    std::unique_ptr<provider::CancelToken> cancel;
    std::thread thread;
    bool cancel_requested = false;
    std::string cancel_reason;
  };

  // A submit that passed the read-only checks, waiting for the leader.
  struct PendingSubmit {
    const v1::SubmitBuildRequest* request;
    std::string owner;
    v1::Build build;  // resolved spec and digest
    bool verify = false;
    absl::StatusOr<SubmitResult> result = absl::InternalError("submit was not processed");
    bool done = false;  // guarded by batch_mu_
  };
  // Joins, replays or creates each (in order, also against each other) and
  // inserts the new builds in one transaction. Called by the leader only.
  void DecideAndInsert(const std::vector<PendingSubmit*>& batch) ABSL_LOCKS_EXCLUDED(mu_);

  SubmitResult Answer(v1::Build build, v1::SubmitOutcome outcome) ABSL_LOCKS_EXCLUDED(mu_);
  v1::Build Decorate(v1::Build build) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::StatusOr<v1::Build> Resolve(const v1::BuildSpec& spec, const recipe::Recipe** recipe,
                                    const Release** release) const;
  void DispatchLoop();
  void StartBuild(const scheduler::QueuedBuild& next) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunBuild(std::string id);
  absl::Status RefreshProvider();

  const ManagerOptions options_;
  store::Store* const store_;
  provider::Provider* const provider_;
  const recipe::RecipeSet* const recipes_;
  const Catalog* const catalog_;
  Runner* const runner_;
  Clock* const clock_;

  // Submits waiting for the leader, and whether one is at work.
  absl::Mutex batch_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::vector<PendingSubmit*> batch_ ABSL_GUARDED_BY(batch_mu_);
  bool batch_leader_ ABSL_GUARDED_BY(batch_mu_) = false;
  mutable absl::Mutex mu_;
  scheduler::Scheduler scheduler_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Active, std::less<>> active_ ABSL_GUARDED_BY(mu_);
  std::string provider_problem_ ABSL_GUARDED_BY(mu_);
  std::string disk_problem_ ABSL_GUARDED_BY(mu_);  // as last seen by the dispatcher
  absl::Time provider_checked_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t wake_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread dispatcher_;
};

// A new random build id: "b" + 9 base32 characters.
std::string NewBuildId();

}  // namespace sfactory::build
