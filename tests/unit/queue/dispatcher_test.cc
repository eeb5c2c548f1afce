#include "daemon/queue/dispatcher.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "tests/fake_provider.h"
#include "tests/test_dir.h"

namespace sfactory::queue {
namespace {

// Records the builds the dispatcher starts; can refuse them.
struct Starts {
  bool Start(const QueuedBuild& b) {
    absl::MutexLock lock(&mu);
    ids.push_back(b.build_id);
    return accept;
  }
  int count() {
    absl::MutexLock lock(&mu);
    return static_cast<int>(ids.size());
  }
  bool WaitFor(int n, absl::Duration timeout) {
    absl::MutexLock lock(&mu);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return static_cast<int>(ids.size()) >= n; };
    return mu.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }
  absl::Mutex mu;
  std::vector<std::string> ids ABSL_GUARDED_BY(mu);
  bool accept ABSL_GUARDED_BY(mu) = true;
};

QueuedBuild Build(const std::string& id, int seq) { return {id, 0, seq, "alice", absl::Now()}; }

TEST_CASE("Dispatcher starts queued builds up to the slot limit", "[queue][dispatch]") {
  ::sfactory::testing::FakeProvider provider;
  Starts starts;
  DispatcherOptions options;
  options.max_parallel_builds = 2;
  Dispatcher d(options, &provider, Clock::Real(), [&](const QueuedBuild& b) { return starts.Start(b); });
  d.Start();
  for (int i = 0; i < 3; ++i) d.Enqueue(Build("b" + std::to_string(i), i));
  REQUIRE(starts.WaitFor(2, absl::Seconds(10)));
  absl::SleepFor(absl::Milliseconds(200));
  CHECK(starts.count() == 2);
  CHECK(d.running() == 2);
  CHECK(d.queued() == 1);
  CHECK(d.Position("b2") == 1);
  d.Finished(Build("b0", 0), /*requeue=*/false);
  REQUIRE(starts.WaitFor(3, absl::Seconds(10)));
  CHECK(d.queued() == 0);
  d.Stop();
}

TEST_CASE("Dispatcher starts nothing while the provider is down and says why",
          "[queue][dispatch]") {
  ::sfactory::testing::FakeProvider provider;
  provider.SetCheck(absl::UnavailableError("fake: LXD is not running"));
  Starts starts;
  Dispatcher d({}, &provider, Clock::Real(), [&](const QueuedBuild& b) { return starts.Start(b); });
  d.Start();
  d.Enqueue(Build("b1", 1));
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (d.provider_problem().empty() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  CHECK(d.provider_problem() == "fake: LXD is not running");
  CHECK(starts.count() == 0);
  provider.SetCheck(absl::OkStatus());
  REQUIRE(starts.WaitFor(1, absl::Seconds(10)));  // re-checked within the 2 s wake-up
  CHECK(d.provider_problem().empty());
  d.Stop();
}

TEST_CASE("Dispatcher keeps builds queued while the state dir is short of space",
          "[queue][dispatch]") {
  ::sfactory::testing::ScratchDir tmp;
  ::sfactory::testing::FakeProvider provider;
  Starts starts;
  DispatcherOptions options;
  options.space_dir = tmp.path();
  options.min_free_bytes = uint64_t{1} << 62;  // more than any disk has
  Dispatcher d(options, &provider, Clock::Real(), [&](const QueuedBuild& b) { return starts.Start(b); });
  d.Start();
  d.Enqueue(Build("b1", 1));
  absl::SleepFor(absl::Milliseconds(300));
  CHECK(starts.count() == 0);
  CHECK(d.queued() == 1);
  CHECK(absl::StrContains(d.disk_problem(), "less than min_free_space"));
  d.Stop();
}

TEST_CASE("Dispatcher puts a build it could not start back into the queue", "[queue][dispatch]") {
  ::sfactory::testing::FakeProvider provider;
  Starts starts;
  {
    absl::MutexLock lock(&starts.mu);
    starts.accept = false;
  }
  Dispatcher d({}, &provider, Clock::Real(), [&](const QueuedBuild& b) { return starts.Start(b); });
  d.Start();
  d.Enqueue(Build("b1", 1));
  REQUIRE(starts.WaitFor(1, absl::Seconds(10)));
  absl::SleepFor(absl::Milliseconds(100));
  CHECK(d.queued() == 1);
  CHECK(d.running() == 0);
  CHECK(starts.count() == 1);  // not retried in a tight loop
  {
    absl::MutexLock lock(&starts.mu);
    starts.accept = true;
  }
  REQUIRE(starts.WaitFor(2, absl::Seconds(10)));  // retried at the next 2 s wake-up
  CHECK(d.running() == 1);
  d.Stop();
}

TEST_CASE("Dispatcher Remove takes a queued build out; a paused queue starts nothing",
          "[queue][dispatch]") {
  ::sfactory::testing::FakeProvider provider;
  Starts starts;
  DispatcherOptions options;
  options.paused = true;
  Dispatcher d(options, &provider, Clock::Real(), [&](const QueuedBuild& b) { return starts.Start(b); });
  d.Start();
  d.Enqueue(Build("b1", 1));
  d.Enqueue(Build("b2", 2));
  CHECK(d.Remove("b1"));
  CHECK_FALSE(d.Remove("b1"));
  absl::SleepFor(absl::Milliseconds(200));
  CHECK(starts.count() == 0);
  d.SetPaused(false);
  REQUIRE(starts.WaitFor(1, absl::Seconds(10)));
  CHECK_FALSE(d.Remove("b2"));  // running now
  d.Stop();
}

}  // namespace
}  // namespace sfactory::queue
