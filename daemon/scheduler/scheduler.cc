#include "daemon/scheduler/scheduler.h"

#include <algorithm>

namespace sfactory::scheduler {

void Scheduler::Enqueue(QueuedBuild build) {
  if (running_.count(build.build_id)) return;
  std::string id = build.build_id;
  queue_.emplace(std::move(id), std::move(build));
}

bool Scheduler::Remove(const std::string& build_id) { return queue_.erase(build_id) > 0; }

void Scheduler::MarkRunning(const std::string& build_id, const std::string& owner) {
  queue_.erase(build_id);
  running_[build_id] = owner;
}

int64_t Scheduler::EffectivePriority(const QueuedBuild& b, absl::Time now) const {
  if (aging_ <= absl::ZeroDuration()) return b.priority;
  absl::Duration rem;  // IDivDuration writes it; it may not be null
  int64_t waited =
      absl::IDivDuration(std::max(now - b.enqueued_at, absl::ZeroDuration()), aging_, &rem);
  return b.priority + waited;
}

bool Scheduler::Before(const QueuedBuild& a, const QueuedBuild& b, absl::Time now,
                       const std::map<std::string, int>& running_per_owner) const {
  int64_t pa = EffectivePriority(a, now), pb = EffectivePriority(b, now);
  if (pa != pb) return pa > pb;
  auto count = [&](const std::string& owner) {
    auto it = running_per_owner.find(owner);
    return it == running_per_owner.end() ? 0 : it->second;
  };
  int ra = count(a.owner), rb = count(b.owner);
  if (ra != rb) return ra < rb;
  return a.seq < b.seq;
}

std::optional<QueuedBuild> Scheduler::Next() {
  if (paused_ || queue_.empty() || running() >= max_parallel_) return std::nullopt;
  absl::Time now = clock_->Now();
  std::map<std::string, int> per_owner;
  for (const auto& [id, owner] : running_) ++per_owner[owner];
  const QueuedBuild* best = nullptr;
  for (const auto& [id, b] : queue_) {
    if (!best || Before(b, *best, now, per_owner)) best = &b;
  }
  QueuedBuild chosen = *best;
  queue_.erase(chosen.build_id);
  running_[chosen.build_id] = chosen.owner;
  return chosen;
}

void Scheduler::Finished(const std::string& build_id) { running_.erase(build_id); }

std::vector<std::string> Scheduler::Order() const {
  absl::Time now = clock_->Now();
  std::map<std::string, int> per_owner;
  for (const auto& [id, owner] : running_) ++per_owner[owner];
  std::vector<const QueuedBuild*> pending;
  for (const auto& [id, b] : queue_) pending.push_back(&b);
  std::vector<std::string> order;
  // Simulate successive Next() calls: fairness counts change as builds start.
  while (!pending.empty()) {
    auto best = pending.begin();
    for (auto it = pending.begin(); it != pending.end(); ++it) {
      if (Before(**it, **best, now, per_owner)) best = it;
    }
    order.push_back((*best)->build_id);
    ++per_owner[(*best)->owner];
    pending.erase(best);
  }
  return order;
}

int Scheduler::Position(const std::string& build_id) const {
  if (!queue_.count(build_id)) return 0;
  auto order = Order();
  auto it = std::find(order.begin(), order.end(), build_id);
  return static_cast<int>(it - order.begin()) + 1;
}

}  // namespace sfactory::scheduler
