// Which queued build starts next. Pure bookkeeping: no threads, no I/O; the
// caller starts the build Next() returns and reports Finished().
//
// Order: effective priority (priority + one per full aging interval waited),
// then the owner with the fewest running builds (fairness), then submission
// order. At most max_parallel run at once; nothing starts while paused.
//
// Not thread-safe; the owner serialises calls.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"

namespace sfactory::queue {

struct QueuedBuild {
  std::string build_id;
  int priority = 0;
  int64_t seq = 0;
  std::string owner;
  absl::Time enqueued_at;
};

class Scheduler {
 public:
  Scheduler(int max_parallel, absl::Duration aging_interval, Clock* clock)
      : max_parallel_(max_parallel), aging_(aging_interval), clock_(clock) {}

  // Adds a build; an id already queued or running is ignored.
  void Enqueue(QueuedBuild build);
  // Removes a queued build; false when it is not queued.
  bool Remove(const std::string& build_id);
  // Marks a build as running without it having been queued (recovery).
  void MarkRunning(const std::string& build_id, const std::string& owner);

  // The build to start now, moved to running; nullopt when no slot is free,
  // the queue is empty or paused.
  std::optional<QueuedBuild> Next();
  void Finished(const std::string& build_id);

  void SetPaused(bool paused) { paused_ = paused; }
  bool paused() const { return paused_; }
  void SetMaxParallel(int n) { max_parallel_ = n; }

  int running() const { return static_cast<int>(running_.size()); }
  int queued() const { return static_cast<int>(queue_.size()); }
  bool IsQueued(const std::string& id) const { return queue_.count(id) > 0; }
  bool IsRunning(const std::string& id) const { return running_.count(id) > 0; }
  // 1-based position in start order; 0 when not queued.
  int Position(const std::string& build_id) const;
  // Queued ids in the order they would start if every slot were free; with
  // stop_at, only up to and including that id.
  std::vector<std::string> Order(const std::string* stop_at = nullptr) const;

 private:
  int64_t EffectivePriority(const QueuedBuild& b, absl::Time now) const;
  // True when a should start before b.
  bool Before(const QueuedBuild& a, const QueuedBuild& b, absl::Time now,
              const std::map<std::string, int>& running_per_owner) const;

  int max_parallel_;
  absl::Duration aging_;
  Clock* clock_;
  bool paused_ = false;
  std::map<std::string, QueuedBuild> queue_;
  std::map<std::string, std::string> running_;  // id → owner
};

}  // namespace sfactory::queue
