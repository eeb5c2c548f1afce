#include "daemon/queue/dispatcher.h"

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/logging.h"
#include "common/units.h"

namespace sfactory::queue {
namespace {

constexpr absl::Duration kProviderRecheck = absl::Seconds(5);

}  // namespace

Dispatcher::Dispatcher(DispatcherOptions options, provider::Provider* provider, Clock* clock,
                       StartFn start)
    : options_(std::move(options)),
      provider_(provider),
      clock_(clock),
      start_(std::move(start)),
      scheduler_(options_.max_parallel_builds, options_.priority_aging, clock) {
  scheduler_.SetPaused(options_.paused);
}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::Start() { thread_ = std::thread([this] { Loop(); }); }

void Dispatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    ++wake_;
  }
  if (thread_.joinable()) thread_.join();
}

void Dispatcher::Enqueue(const QueuedBuild& build) {
  absl::MutexLock lock(&mu_);
  scheduler_.Enqueue(build);
  ++wake_;
}

bool Dispatcher::Remove(const std::string& build_id) {
  absl::MutexLock lock(&mu_);
  return scheduler_.Remove(build_id);
}

void Dispatcher::Finished(const QueuedBuild& build, bool requeue) {
  absl::MutexLock lock(&mu_);
  scheduler_.Finished(build.build_id);
  if (requeue) scheduler_.Enqueue(build);
  ++wake_;
}

void Dispatcher::RecheckProvider() {
  absl::MutexLock lock(&mu_);
  provider_checked_at_ = absl::InfinitePast();
}

void Dispatcher::SetPaused(bool paused) {
  absl::MutexLock lock(&mu_);
  scheduler_.SetPaused(paused);
  ++wake_;
}

int Dispatcher::running() const {
  absl::MutexLock lock(&mu_);
  return scheduler_.running();
}

int Dispatcher::queued() const {
  absl::MutexLock lock(&mu_);
  return scheduler_.queued();
}

int Dispatcher::Position(const std::string& build_id) const {
  absl::MutexLock lock(&mu_);
  return scheduler_.Position(build_id);
}

std::string Dispatcher::provider_problem() const {
  absl::MutexLock lock(&mu_);
  return provider_problem_;
}

std::string Dispatcher::disk_problem() const {
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

absl::Status Dispatcher::RefreshProvider() {
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

void Dispatcher::Loop() {
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
    // Both checks block (LXD over HTTP, statvfs): outside the lock. The
    // provider is checked even when idle, so that health and `info` notice
    // an outage before a build needs it.
    if (check && !RefreshProvider().ok()) continue;  // builds stay queued
    if (!want) continue;
    std::string disk = disk_problem();
    absl::MutexLock lock(&mu_);
    if (disk != disk_problem_) {
      if (disk.empty()) spdlog::info("the state dir has room again; starting queued builds");
      else spdlog::warn("not starting builds: {}", disk);
      disk_problem_ = disk;
    }
    if (!disk.empty()) continue;  // builds stay queued
    if (stopping_) return;
    while (auto next = scheduler_.Next()) {
      if (!start_(*next)) {
        scheduler_.Finished(next->build_id);
        scheduler_.Enqueue(*next);
        break;  // retried on the next wake-up or timeout
      }
    }
  }
}

}  // namespace sfactory::queue
