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
#include "daemon/provider/local_provider.h"
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
}  // namespace sfactory::lifecycle
