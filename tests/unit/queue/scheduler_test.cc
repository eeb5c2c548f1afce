#include <catch2/catch.hpp>

#include "daemon/queue/scheduler.h"

namespace sfactory::queue {
namespace {

QueuedBuild B(std::string id, int priority, int64_t seq, std::string owner, absl::Time at) {
  return QueuedBuild{std::move(id), priority, seq, std::move(owner), at};
}

TEST_CASE("Scheduler starts higher priority first, then submission order", "[scheduler]") {
  FakeClock clock;
  Scheduler s(1, absl::ZeroDuration(), &clock);
  s.Enqueue(B("a", 0, 1, "u", clock.Now()));
  s.Enqueue(B("b", 5, 2, "u", clock.Now()));
  s.Enqueue(B("c", 0, 3, "u", clock.Now()));
  CHECK(s.Order() == std::vector<std::string>{"b", "a", "c"});
  auto first = s.Next();
  REQUIRE(first);
  CHECK(first->build_id == "b");
  CHECK(!s.Next());  // one slot only
  s.Finished("b");
  CHECK(s.Next()->build_id == "a");
  s.Finished("a");
  CHECK(s.Next()->build_id == "c");
}

TEST_CASE("Scheduler never runs more than max_parallel builds", "[scheduler]") {
  FakeClock clock;
  Scheduler s(2, absl::ZeroDuration(), &clock);
  for (int i = 0; i < 5; ++i) s.Enqueue(B("b" + std::to_string(i), 0, i, "u", clock.Now()));
  CHECK(s.Next());
  CHECK(s.Next());
  CHECK(!s.Next());
  CHECK(s.running() == 2);
  CHECK(s.queued() == 3);
}

TEST_CASE("Scheduler prefers the owner with fewer running builds at equal priority",
          "[scheduler]") {
  FakeClock clock;
  Scheduler s(3, absl::ZeroDuration(), &clock);
  s.Enqueue(B("alice1", 0, 1, "alice", clock.Now()));
  s.Enqueue(B("alice2", 0, 2, "alice", clock.Now()));
  s.Enqueue(B("alice3", 0, 3, "alice", clock.Now()));
  s.Enqueue(B("bob1", 0, 4, "bob", clock.Now()));
  CHECK(s.Next()->build_id == "alice1");
  CHECK(s.Next()->build_id == "bob1");  // alice already has one running
  CHECK(s.Next()->build_id == "alice2");
}

TEST_CASE("Scheduler ages waiting builds so low priority cannot starve", "[scheduler]") {
  FakeClock clock;
  Scheduler s(1, absl::Minutes(10), &clock);
  s.Enqueue(B("old-low", 0, 1, "u", clock.Now()));
  clock.Advance(absl::Minutes(25));  // +2 from aging
  s.Enqueue(B("new-high", 1, 2, "u", clock.Now()));
  CHECK(s.Next()->build_id == "old-low");

  Scheduler t(1, absl::Minutes(10), &clock);
  t.Enqueue(B("old-low", 0, 1, "u", clock.Now()));
  clock.Advance(absl::Minutes(5));  // not a full interval yet
  t.Enqueue(B("new-high", 1, 2, "u", clock.Now()));
  CHECK(t.Next()->build_id == "new-high");
}

TEST_CASE("Scheduler starts nothing while paused and resumes in order", "[scheduler]") {
  FakeClock clock;
  Scheduler s(2, absl::ZeroDuration(), &clock);
  s.SetPaused(true);
  s.Enqueue(B("a", 0, 1, "u", clock.Now()));
  CHECK(!s.Next());
  CHECK(s.Position("a") == 1);
  s.SetPaused(false);
  CHECK(s.Next()->build_id == "a");
}

TEST_CASE("Scheduler Remove cancels only queued builds", "[scheduler]") {
  FakeClock clock;
  Scheduler s(1, absl::ZeroDuration(), &clock);
  s.Enqueue(B("a", 0, 1, "u", clock.Now()));
  s.Enqueue(B("b", 0, 2, "u", clock.Now()));
  REQUIRE(s.Next()->build_id == "a");
  CHECK(!s.Remove("a"));
  CHECK(s.Remove("b"));
  CHECK(s.queued() == 0);
  CHECK(s.Position("b") == 0);
}

TEST_CASE("Scheduler ignores a second Enqueue of a running build", "[scheduler]") {
  FakeClock clock;
  Scheduler s(2, absl::ZeroDuration(), &clock);
  s.MarkRunning("a", "u");
  s.Enqueue(B("a", 0, 1, "u", clock.Now()));
  CHECK(s.queued() == 0);
  CHECK(s.IsRunning("a"));
}

}  // namespace
}  // namespace sfactory::queue

namespace sfactory::queue {
namespace {

TEST_CASE("Scheduler Order and Position agree with successive Next calls", "[scheduler]") {
  FakeClock clock;
  uint32_t rng = 12345;
  auto next = [&](uint32_t mod) {
    rng = rng * 1103515245u + 12345u;
    return (rng >> 8) % mod;
  };
  for (int round = 0; round < 20; ++round) {
    Scheduler s(1000, absl::Minutes(10), &clock);
    int n = 50 + static_cast<int>(next(300));
    for (int i = 0; i < n; ++i) {
      s.Enqueue(B("b" + std::to_string(i), static_cast<int>(next(4)), i,
                  "u" + std::to_string(next(5)),
                  clock.Now() - absl::Minutes(static_cast<int>(next(60)))));
    }
    for (int r = 0; r < static_cast<int>(next(4)); ++r) {
      s.MarkRunning("r" + std::to_string(r), "u" + std::to_string(next(5)));
    }
    std::vector<std::string> order = s.Order();
    REQUIRE(order.size() == static_cast<size_t>(n));
    for (int i = 0; i < n; i += 7) CHECK(s.Position(order[i]) == i + 1);
    Scheduler copy = s;
    for (int i = 0; i < n; ++i) {
      auto b = copy.Next();
      REQUIRE(b);
      CHECK(b->build_id == order[i]);
    }
  }
}

}  // namespace
}  // namespace sfactory::queue
