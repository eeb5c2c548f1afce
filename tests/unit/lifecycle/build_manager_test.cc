#include "daemon/lifecycle/build_manager.h"

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/barrier.h"
#include "common/clock.h"
#include "absl/strings/match.h"
#include "common/status.h"
#include "daemon/artifacts/artifact_store.h"
#include "daemon/cache/source_cache.h"
#include "daemon/provider/local_provider.h"
#include "tests/fake_provider.h"
#include "tests/test_dir.h"

namespace sfactory::lifecycle {
namespace {

using Scratch = ::sfactory::testing::ScratchDir;

// A manager over a real store, the real catalog and the hello test recipe,
// with the queue paused: submits are stored and queued, nothing runs.
struct Fixture {
  Fixture() {
    auto s = store::Store::Open(tmp.path() / "state.db");
    REQUIRE(s.ok());
    store = std::move(*s);
    auto c = Catalog::LoadFile(SFACTORY_SOURCE_DIR "/templates/catalog.yaml");
    REQUIRE(c.ok());
    catalog = std::move(*c);
    auto r = recipe::RecipeSet::Load({SFACTORY_SOURCE_DIR "/tests/recipes"});
    REQUIRE(r.ok());
    recipes = std::move(*r);
    auto p = provider::MakeLocalProvider(tmp.path() / "instances");
    REQUIRE(p.ok());
    provider = std::move(*p);
    runner::RunnerDeps deps;
    deps.provider = provider.get();
    runner = std::make_unique<runner::Runner>(deps);
    ManagerOptions options;
    options.log_dir = tmp.path() / "logs";
    options.queue_paused = true;
    options.defaults = {"hello", "debian-12", "x86_64"};
    manager = std::make_unique<BuildManager>(options, store.get(), provider.get(), &recipes,
                                             &catalog, runner.get(), &clock);
    REQUIRE(manager->Start().ok());
  }
  ~Fixture() { manager->Shutdown(); }

  Scratch tmp;
  FakeClock clock;
  std::unique_ptr<store::Store> store;
  Catalog catalog;
  recipe::RecipeSet recipes;
  std::unique_ptr<provider::Provider> provider;
  std::unique_ptr<runner::Runner> runner;
  std::unique_ptr<BuildManager> manager;
};

v1::SubmitBuildRequest Request(const std::string& version, const std::string& variant = "",
                               const std::string& request_id = "") {
  v1::SubmitBuildRequest r;
  r.mutable_spec()->set_slurm_version(version);
  r.mutable_spec()->set_recipe("hello");
  if (!variant.empty()) r.mutable_spec()->add_variants(variant);
  r.set_request_id(request_id);
  if (!request_id.empty()) r.set_force(true);
  return r;
}

// Runs `requests` from one thread each, released together; returns the
// results. Owners alternate between alice and bob with `two_owners`.
std::vector<absl::StatusOr<SubmitResult>> SubmitTogether(
    BuildManager& manager, const std::vector<v1::SubmitBuildRequest>& requests,
    bool two_owners = false) {
  const int n = static_cast<int>(requests.size());
  std::vector<absl::StatusOr<SubmitResult>> results(n, absl::UnknownError("not run"));
  absl::Barrier* start = new absl::Barrier(n);  // deleted by the last to pass
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      if (start->Block()) delete start;
      results[i] = manager.Submit(requests[i], two_owners && i % 2 ? "bob" : "alice");
    });
  }
  for (auto& t : threads) t.join();
  return results;
}

TEST_CASE("Concurrent submits: equal specs make one build, the rest join it",
          "[build][manager]") {
  Fixture f;
  // Each round: 4 specs not submitted before x 16 equal submits, plus a new
  // request_id sent 16 times by one owner (forced, so only the request_id
  // can make them one build), all released at once. Several rounds, so that
  // equal submits land in one batch whatever the timing.
  // Not 24.11.5: the request_id submits build 24.11.5 +big, and a plain
  // submit of that spec would rightly join them.
  const std::vector<std::string> versions = {"22.05", "23.02", "23.11", "24.11.6", "25.05"};
  const std::vector<std::string> variants = {"", "slow", "fail", "big"};
  constexpr int kCopies = 16;
  std::set<std::string> all;
  const int rounds = static_cast<int>(versions.size());
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    std::vector<v1::SubmitBuildRequest> specs;
    for (const auto& x : variants) specs.push_back(Request(versions[round], x));
    const std::string request_id = "retry-" + std::to_string(round);
    std::vector<v1::SubmitBuildRequest> requests;
    for (int c = 0; c < kCopies; ++c) {
      for (const auto& s : specs) requests.push_back(s);
      requests.push_back(Request("24.11", "big", request_id));
    }
    auto results = SubmitTogether(*f.manager, requests);
    std::map<std::string, std::set<std::string>> ids;  // spec key -> build ids
    std::map<std::string, int> created;
    int joined = 0, replayed = 0;
    for (size_t i = 0; i < results.size(); ++i) {
      INFO("submit " << i << ": " << results[i].status());
      REQUIRE(results[i].ok());
      CHECK(results[i]->build.state() == v1::BUILD_STATE_QUEUED);
      const std::string key = requests[i].ShortDebugString();
      ids[key].insert(results[i]->build.id());
      switch (results[i]->outcome) {
        case v1::SUBMIT_OUTCOME_CREATED: ++created[key]; break;
        case v1::SUBMIT_OUTCOME_JOINED: ++joined; break;
        case v1::SUBMIT_OUTCOME_REPLAYED: ++replayed; break;
        default: FAIL("unexpected outcome " << results[i]->outcome);
      }
    }
    REQUIRE(ids.size() == specs.size() + 1);
    for (const auto& [key, set] : ids) {
      INFO(key);
      CHECK(set.size() == 1);
      CHECK(created[key] == 1);
      all.insert(set.begin(), set.end());
    }
    CHECK(joined == static_cast<int>(specs.size()) * (kCopies - 1));
    CHECK(replayed == kCopies - 1);
  }
  const size_t builds = static_cast<size_t>(rounds) * (variants.size() + 1);
  CHECK(all.size() == builds);
  CHECK(f.manager->queued() == static_cast<int>(builds));
  // What the callers were told is what is stored.
  store::ListFilter everything;
  everything.page_size = 1000;
  auto listed = f.store->ListBuilds(everything);
  REQUIRE(listed.ok());
  CHECK(listed->builds.size() == builds);
  for (const auto& b : listed->builds) CHECK(all.count(b.id()) == 1);
}

TEST_CASE("Concurrent distinct submits each make a build with increasing seq",
          "[build][manager]") {
  Fixture f;
  const std::vector<std::string> versions = {"22.05", "23.02", "23.11", "24.11.5", "24.11.6",
                                             "25.05"};
  const std::vector<std::string> variants = {"", "slow", "fail", "big"};
  std::vector<v1::SubmitBuildRequest> requests;
  for (const auto& v : versions) {
    for (const auto& x : variants) requests.push_back(Request(v, x));
  }
  const int n = static_cast<int>(requests.size());
  auto results = SubmitTogether(*f.manager, requests, /*two_owners=*/true);
  std::set<std::string> ids;
  for (const auto& r : results) {
    INFO(r.status());
    REQUIRE(r.ok());
    CHECK(r->outcome == v1::SUBMIT_OUTCOME_CREATED);
    ids.insert(r->build.id());
  }
  CHECK(ids.size() == requests.size());
  auto unfinished = f.store->LoadUnfinished();
  REQUIRE(unfinished.ok());
  REQUIRE(unfinished->size() == requests.size());
  for (size_t i = 1; i < unfinished->size(); ++i) {
    CHECK((*unfinished)[i - 1].seq < (*unfinished)[i].seq);
  }
  CHECK(f.manager->queued() == n);
}

}  // namespace

// --- The lifecycle with builds that run: a real Runner over a fake
// provider (its health and phases set by each test), the hello recipe with
// its source in a real cache, and a packager that writes two small files.
namespace {

using ::sfactory::testing::FakeProvider;

struct RunningFixture {
  explicit RunningFixture(bool paused = false) {
    auto s = store::Store::Open(tmp.path() / "state.db");
    REQUIRE(s.ok());
    store = std::move(*s);
    auto c = Catalog::LoadFile(SFACTORY_SOURCE_DIR "/templates/catalog.yaml");
    REQUIRE(c.ok());
    catalog = std::move(*c);
    auto r = recipe::RecipeSet::Load({SFACTORY_SOURCE_DIR "/tests/recipes"});
    REQUIRE(r.ok());
    recipes = std::move(*r);
    sources = std::make_unique<cache::SourceCache>(tmp.path() / "sources", store.get(), &catalog);
    REQUIRE(sources->Init().ok());
    REQUIRE(sources->AddFile(SFACTORY_SOURCE_DIR "/tests/fixtures/hello-1.0.tar.gz",
                             "hello-1.0.tar.gz").ok());
    artifacts = std::make_unique<artifacts::ArtifactStore>(tmp.path() / "artifacts");
    REQUIRE(artifacts->Init().ok());
    runner::RunnerDeps deps;
    deps.provider = &provider;
    deps.sources = sources.get();
    deps.artifacts = artifacts.get();
    deps.work_root = tmp.path() / "work";
    deps.allow_downloads = false;
    deps.package = [](const runner::PackageInput& in, const runner::LogFn&)
        -> absl::StatusOr<std::vector<runner::PackageOutput>> {
      const auto software = in.out_dir / "hello-software.tar.gz";
      const auto module = in.out_dir / "hello-module.tar.gz";
      SF_RETURN_IF_ERROR(WriteFileAtomic(software, "software of " + in.build_id));
      SF_RETURN_IF_ERROR(WriteFileAtomic(module, "module of " + in.build_id));
      return std::vector<runner::PackageOutput>{{software, "software"}, {module, "module"}};
    };
    deps.write_bundle = [](const std::filesystem::path& root, const std::filesystem::path& out) {
      return WriteFileAtomic(out, "bundle of " + root.filename().string());
    };
    runner = std::make_unique<runner::Runner>(deps);
    options.log_dir = tmp.path() / "logs";
    REQUIRE(MakeDirs(options.log_dir).ok());
    options.queue_paused = paused;
    options.retry_cap = 2;
    options.stop_timeout = absl::Milliseconds(300);
    options.defaults = {"hello", "debian-12", "x86_64"};
  }

  // A manager over this fixture's store and provider (several may be made,
  // as a daemon restart would).
  std::unique_ptr<BuildManager> NewManager() {
    auto m = std::make_unique<BuildManager>(options, store.get(), &provider, &recipes, &catalog,
                                            runner.get(), Clock::Real());
    REQUIRE(m->Start().ok());
    return m;
  }

  std::string SubmitHello(BuildManager& m, const std::string& version = "24.11.5") {
    v1::SubmitBuildRequest r;
    r.mutable_spec()->set_slurm_version(version);
    r.mutable_spec()->set_recipe("hello");
    r.set_no_verify(true);
    auto result = m.Submit(r, "alice");
    INFO(result.status());
    REQUIRE(result.ok());
    return result->build.id();
  }

  // Polls until the build reaches `state` (or 20 s pass); returns it as stored.
  v1::Build WaitForState(BuildManager& m, const std::string& id, v1::BuildState state) {
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    v1::Build b;
    while (absl::Now() < deadline) {
      auto got = m.Get(id);
      REQUIRE(got.ok());
      b = *got;
      if (b.state() == state) return b;
      absl::SleepFor(absl::Milliseconds(20));
    }
    FAIL("build " << id << " did not reach state " << state << "; it is " << b.ShortDebugString());
    return b;
  }

  std::string Log(const std::string& id) {
    auto text = ReadFile(options.log_dir / (id + ".log"));
    return text.ok() ? *text : "";
  }

  std::vector<std::string> EventMessages(const std::string& id) {
    auto events = store->ListEvents(id);
    REQUIRE(events.ok());
    std::vector<std::string> out;
    for (const auto& e : *events) out.push_back(e.message);
    return out;
  }

  Scratch tmp;
  FakeProvider provider;
  std::unique_ptr<store::Store> store;
  Catalog catalog;
  recipe::RecipeSet recipes;
  std::unique_ptr<cache::SourceCache> sources;
  std::unique_ptr<artifacts::ArtifactStore> artifacts;
  std::unique_ptr<runner::Runner> runner;
  ManagerOptions options;
};

bool Contains(const std::vector<std::string>& v, absl::string_view needle) {
  for (const auto& s : v) {
    if (absl::StrContains(s, needle)) return true;
  }
  return false;
}

TEST_CASE("BuildManager runs a submitted build to SUCCEEDED with its artifacts",
          "[lifecycle]") {
  RunningFixture f;
  auto m = f.NewManager();
  std::string id = f.SubmitHello(*m);
  v1::Build b = f.WaitForState(*m, id, v1::BUILD_STATE_SUCCEEDED);
  CHECK(b.attempt() == 1);
  CHECK(b.artifacts_size() == 2);
  CHECK(b.current_phase().empty());
  CHECK(f.provider.live_instances() == 0);
  CHECK(f.provider.orphan_sweeps() == 1);
  CHECK(absl::StrContains(f.Log(id), "succeeded"));
}

TEST_CASE("BuildManager keeps a queue pause across a restart and resumes it", "[lifecycle]") {
  RunningFixture f;
  f.options.pause_file = f.tmp.path() / "queue-paused";
  {
    auto m = f.NewManager();
    auto paused = m->SetQueuePaused(true, "alice", "upgrading LXD");
    REQUIRE(paused.ok());
    CHECK(paused->paused());
    CHECK(paused->paused_by() == "alice");
    f.SubmitHello(*m);
    absl::SleepFor(absl::Milliseconds(300));
    CHECK(f.provider.creates() == 0);
    m->Shutdown();
  }
  auto m = f.NewManager();  // a restarted daemon
  v1::QueueStatus q = m->queue_status();
  CHECK(q.paused());
  CHECK(q.paused_by() == "alice");
  CHECK(q.reason() == "upgrading LXD");
  CHECK(q.paused_at().seconds() > 0);
  CHECK(q.queued_builds() == 1);
  absl::SleepFor(absl::Milliseconds(300));
  CHECK(f.provider.creates() == 0);
  auto resumed = m->SetQueuePaused(false, "bob", "");
  REQUIRE(resumed.ok());
  CHECK(!resumed->paused());
  CHECK(!std::filesystem::exists(f.options.pause_file));
  for (int i = 0; i < 100 && f.provider.creates() == 0; ++i) absl::SleepFor(absl::Milliseconds(20));
  CHECK(f.provider.creates() > 0);
}

TEST_CASE("BuildManager records a failed build's debug bundle, kept beside its log",
          "[lifecycle]") {
  RunningFixture f;
  f.provider.SetCreate(absl::InternalError("no room for an instance"));
  auto m = f.NewManager();
  std::string id = f.SubmitHello(*m);
  v1::Build b = f.WaitForState(*m, id, v1::BUILD_STATE_FAILED);
  CHECK(b.error() == "no room for an instance");
  REQUIRE(b.has_debug_bundle());
  CHECK(b.debug_bundle().name() == id + "-debug.tar.gz");
  CHECK(m->DebugBundlePath(id) == f.options.log_dir / (id + ".debug.tar.gz"));
  CHECK(m->DebugDir(id) == f.options.log_dir / (id + ".debug"));
  CHECK(*ReadFile(m->DebugBundlePath(id)) == "bundle of " + id + ".debug");
  CHECK(b.debug_bundle().size() == std::filesystem::file_size(m->DebugBundlePath(id)));
  CHECK(std::filesystem::exists(m->DebugDir(id) / (id + "-debug") / "README.txt"));
  // As stored, not only as returned.
  auto stored = f.store->GetBuild(id);
  REQUIRE(stored.ok());
  CHECK(stored->build.debug_bundle().sha256() == b.debug_bundle().sha256());
}

TEST_CASE("BuildManager keeps no debug bundle for a build that succeeded", "[lifecycle]") {
  RunningFixture f;
  auto m = f.NewManager();
  std::string id = f.SubmitHello(*m);
  v1::Build b = f.WaitForState(*m, id, v1::BUILD_STATE_SUCCEEDED);
  CHECK(!b.has_debug_bundle());
  CHECK(!std::filesystem::exists(m->DebugBundlePath(id)));
  CHECK(!std::filesystem::exists(m->DebugDir(id)));
}

TEST_CASE("BuildManager Cancel of a queued build cancels it and it never runs", "[lifecycle]") {
  RunningFixture f(/*paused=*/true);
  auto m = f.NewManager();
  std::string id = f.SubmitHello(*m);
  CHECK(m->queued() == 1);
  auto cancelled = m->Cancel(id, "not needed");
  REQUIRE(cancelled.ok());
  CHECK(cancelled->state() == v1::BUILD_STATE_CANCELLED);
  CHECK(cancelled->error() == "cancelled: not needed");
  CHECK(cancelled->queue_position() == 0);
  CHECK(m->queued() == 0);
  REQUIRE(m->SetQueuePaused(false, "test", "").ok());
  absl::SleepFor(absl::Milliseconds(300));
  CHECK(f.provider.creates() == 0);
  auto stored = f.store->GetBuild(id);
  REQUIRE(stored.ok());
  CHECK(stored->build.state() == v1::BUILD_STATE_CANCELLED);
  CHECK(Contains(f.EventMessages(id), "cancelled: not needed"));
}

TEST_CASE("BuildManager Cancel of a running build stops its phase and names the phase",
          "[lifecycle]") {
  RunningFixture f;
  f.provider.SetPhase(FakeProvider::Phase::kWaitForCancel);
  auto m = f.NewManager();
  std::string id = f.SubmitHello(*m);
  REQUIRE(f.provider.WaitForExec(absl::Seconds(20)));
  auto answer = m->Cancel(id, "wrong version");
  REQUIRE(answer.ok());
  v1::Build b = f.WaitForState(*m, id, v1::BUILD_STATE_CANCELLED);
  CHECK(b.error() == "cancelled: wrong version (during unpack)");
  CHECK(b.attempt() == 1);
  CHECK(f.provider.live_instances() == 0);
  CHECK(absl::StrContains(f.Log(id), "==> cancelled: wrong version"));
  // A finished build has nothing left to cancel.
  auto again = m->Cancel(id, "");
  CHECK(again.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(again.status().message(), "nothing to cancel"));
}

TEST_CASE("BuildManager Start requeues builds a dead daemon left running and fails them at the "
          "retry cap",
          "[lifecycle]") {
  RunningFixture f(/*paused=*/true);
  auto left_running = [&](int attempt) {
    store::BuildRecord rec;
    rec.build.set_id(queue::NewBuildId());
    rec.build.set_state(v1::BUILD_STATE_RUNNING);
    rec.build.set_attempt(attempt);
    rec.build.set_owner("alice");
    rec.build.set_digest("d-" + rec.build.id());
    rec.build.set_current_phase("compile");
    rec.build.mutable_spec()->set_slurm_version("24.11.5");
    rec.build.mutable_spec()->set_recipe("hello");
    REQUIRE(f.store->InsertBuild(&rec).ok());
    return rec.build.id();
  };
  std::string below_cap = left_running(1);
  std::string at_cap = left_running(2);  // retry_cap is 2
  auto m = f.NewManager();

  auto requeued = f.store->GetBuild(below_cap);
  REQUIRE(requeued.ok());
  CHECK(requeued->build.state() == v1::BUILD_STATE_QUEUED);
  CHECK(requeued->build.current_phase().empty());
  CHECK(Contains(f.EventMessages(below_cap), "requeued after a daemon restart (attempt 1 of 2)"));

  auto failed = f.store->GetBuild(at_cap);
  REQUIRE(failed.ok());
  CHECK(failed->build.state() == v1::BUILD_STATE_FAILED);
  CHECK(absl::StrContains(failed->build.error(), "retry_cap 2"));
  CHECK(failed->build.has_finished_at());
  CHECK(m->queued() == 1);

  // The requeued one runs once the queue moves, as attempt 2.
  REQUIRE(m->SetQueuePaused(false, "test", "").ok());
  v1::Build done = f.WaitForState(*m, below_cap, v1::BUILD_STATE_SUCCEEDED);
  CHECK(done.attempt() == 2);
}

TEST_CASE("BuildManager requeues a build when the provider goes away, without counting an "
          "attempt, and runs it when the provider is back",
          "[lifecycle]") {
  RunningFixture f;
  f.provider.SetOutage(absl::UnavailableError("fake: down for maintenance"));
  auto m = f.NewManager();
  std::string id = f.SubmitHello(*m);
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (f.provider.creates() == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  REQUIRE(f.provider.creates() == 1);
  v1::Build waiting = f.WaitForState(*m, id, v1::BUILD_STATE_QUEUED);
  CHECK(waiting.attempt() == 0);
  CHECK(absl::StrContains(f.Log(id), "requeued: the provider is not usable"));
  CHECK(Contains(f.EventMessages(id), "requeued: the provider is not usable"));
  deadline = absl::Now() + absl::Seconds(20);
  while (m->provider_problem().empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  CHECK(m->provider_problem() == "fake: down for maintenance");
  int creates_while_down = f.provider.creates();
  absl::SleepFor(absl::Milliseconds(500));
  CHECK(f.provider.creates() == creates_while_down);  // nothing starts while it is down

  f.provider.SetOutage(absl::OkStatus());
  v1::Build done = f.WaitForState(*m, id, v1::BUILD_STATE_SUCCEEDED);
  CHECK(done.attempt() == 1);
  CHECK(m->provider_problem().empty());
}

TEST_CASE("BuildManager Shutdown with a stuck build returns after stop_timeout, and the next "
          "start requeues the build",
          "[lifecycle]") {
  RunningFixture f;
  f.provider.SetPhase(FakeProvider::Phase::kIgnoreCancel);
  auto first = f.NewManager();
  std::string id = f.SubmitHello(*first);
  REQUIRE(f.provider.WaitForExec(absl::Seconds(20)));
  absl::Time start = absl::Now();
  first->Shutdown();
  absl::Duration took = absl::Now() - start;
  CHECK(took >= f.options.stop_timeout);
  CHECK(took < f.options.stop_timeout + absl::Seconds(5));
  auto stored = f.store->GetBuild(id);
  REQUIRE(stored.ok());
  CHECK(stored->build.state() == v1::BUILD_STATE_RUNNING);  // as a killed daemon leaves it

  // The next daemon (paused, so the stuck thread and it do not race).
  f.options.queue_paused = true;
  auto second = f.NewManager();
  auto requeued = f.store->GetBuild(id);
  REQUIRE(requeued.ok());
  CHECK(requeued->build.state() == v1::BUILD_STATE_QUEUED);
  CHECK(second->queued() == 1);

  // Let the stuck phase end so the first manager's thread finishes before
  // the manager goes away.
  f.provider.Unblock();
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (first->running() > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  CHECK(first->running() == 0);
  second->Shutdown();
}

}  // namespace
}  // namespace sfactory::lifecycle
