#include "daemon/queue/scheduler.h"

#include <algorithm>

namespace sfactory::queue {

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

std::vector<std::string> Scheduler::Order(const std::string* stop_at) const {
  // The same sequence successive Next() calls would give, in O(n log n +
  // n * owners) instead of O(n^2): one owner's builds share a running count,
  // so Before() orders them by effective priority, then seq; each step picks
  // the best among the owners' heads, and starting a build bumps its owner.
  absl::Time now = clock_->Now();
  struct Item {
    int64_t priority;
    int64_t seq;
    const std::string* id;
  };
  struct Owner {
    std::vector<Item> items;  // best last
    int running = 0;
  };
  std::map<std::string, Owner> owners;
  for (const auto& [id, b] : queue_) {
    owners[b.owner].items.push_back({EffectivePriority(b, now), b.seq, &id});
  }
  for (const auto& [id, owner] : running_) {
    auto it = owners.find(owner);
    if (it != owners.end()) ++it->second.running;
  }
  for (auto& [name, o] : owners) {
    std::sort(o.items.begin(), o.items.end(), [](const Item& a, const Item& b) {
      if (a.priority != b.priority) return a.priority < b.priority;
      return a.seq > b.seq;
    });
  }
  std::vector<std::string> order;
  order.reserve(queue_.size());
  while (order.size() < queue_.size()) {
    Owner* best = nullptr;
    for (auto& [name, o] : owners) {
      if (o.items.empty()) continue;
      if (!best) {
        best = &o;
        continue;
      }
      const Item& a = o.items.back();
      const Item& b = best->items.back();
      if (a.priority != b.priority ? a.priority > b.priority
          : o.running != best->running ? o.running < best->running
                                       : a.seq < b.seq) {
        best = &o;
      }
    }
    order.push_back(*best->items.back().id);
    best->items.pop_back();
    ++best->running;
    if (stop_at && order.back() == *stop_at) break;
  }
  return order;
}

int Scheduler::Position(const std::string& build_id) const {
  if (!queue_.count(build_id)) return 0;
  // Order() stops once it has placed build_id, so it is last.
  return static_cast<int>(Order(&build_id).size());
}

}  // namespace sfactory::queue
