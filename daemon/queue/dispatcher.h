// Starts queued builds as slots free up. It owns the scheduler (the order)
// and a thread that starts the next builds whenever something changed,
// while the queue is not paused, the provider's Check() passes and the
// state dir has `min_free_bytes` free; otherwise builds stay queued and
// provider_problem()/disk_problem() say why.
//
// Thread-safety: every public method may be called from any thread. The
// start function runs on the dispatcher's thread with the dispatcher's lock
// held: it must not call back into the dispatcher.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "daemon/provider/provider.h"
#include "daemon/queue/scheduler.h"

namespace sfactory::queue {

struct DispatcherOptions {
  int max_parallel_builds = 2;
  absl::Duration priority_aging = absl::Minutes(10);
  bool paused = false;
  // Builds start only while the filesystem of `space_dir` has
  // `min_free_bytes` free (0 = no check).
  std::filesystem::path space_dir;
  uint64_t min_free_bytes = 0;
};

// Starts `build` (which the scheduler now counts as running). False when it
// could not start: the build goes back into the queue.
using StartFn = std::function<bool(const QueuedBuild& build)>;

class Dispatcher {
 public:
  Dispatcher(DispatcherOptions options, provider::Provider* provider, Clock* clock, StartFn start);
  ~Dispatcher();

  // Starts the dispatcher thread. Stop() ends it; no build starts after.
  void Start();
  void Stop();

  // Adds builds to the queue and wakes the dispatcher.
  void Enqueue(const QueuedBuild& build);
  // Takes a queued build out; false when it is not queued (running, or
  // never queued). A build that is being started counts as running.
  bool Remove(const std::string& build_id);
  // A running build ended; with `requeue` it goes back into the queue.
  void Finished(const QueuedBuild& build, bool requeue);
  // The next start re-checks the provider first (it just failed a build).
  void RecheckProvider();
  void SetPaused(bool paused);

  int running() const;
  int queued() const;
  // 1-based position in start order; 0 when not queued.
  int Position(const std::string& build_id) const;
  // Empty when the provider can run builds; otherwise what is wrong.
  std::string provider_problem() const;
  // Empty when the state dir has min_free_bytes free; otherwise how much it
  // has and what to do. Asked afresh on each call.
  std::string disk_problem() const;

 private:
  void Loop();
  absl::Status RefreshProvider();

  const DispatcherOptions options_;
  provider::Provider* const provider_;
  Clock* const clock_;
  const StartFn start_;

  mutable absl::Mutex mu_;
  Scheduler scheduler_ ABSL_GUARDED_BY(mu_);
  std::string provider_problem_ ABSL_GUARDED_BY(mu_);
  std::string disk_problem_ ABSL_GUARDED_BY(mu_);  // as last seen by the loop
  absl::Time provider_checked_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t wake_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace sfactory::queue
