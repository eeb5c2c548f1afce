#include "daemon/queue/submitter.h"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "daemon/provider/local_provider.h"
#include "tests/fake_provider.h"
#include "tests/test_dir.h"

namespace sfactory::queue {
namespace {

using Scratch = ::sfactory::testing::ScratchDir;

// Records what the submitter admits; presents builds unchanged.
class RecordingTarget : public SubmitTarget {
 public:
  void Admit(const std::vector<store::BuildRecord>& created) override {
    for (const auto& r : created) admitted.push_back(r.build.id());
  }
  v1::Build Present(v1::Build b) override {
    b.set_log_size(4242);  // proves the answer went through Present
    return b;
  }
  std::vector<std::string> admitted;
};

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
    SubmitOptions options;
    options.defaults = {"hello", "debian-12", "x86_64"};
    options.space_dir = tmp.path();
    submitter = std::make_unique<Submitter>(options, store.get(), &provider, &recipes, &catalog,
                                            &clock, &target);
  }

  absl::StatusOr<SubmitResult> Submit(const std::string& version, const std::string& owner = "alice",
                                      const std::string& request_id = "", bool no_verify = false,
                                      bool force = false) {
    v1::SubmitBuildRequest r;
    r.mutable_spec()->set_slurm_version(version);
    r.set_request_id(request_id);
    r.set_no_verify(no_verify);
    r.set_force(force);
    return submitter->Submit(r, owner);
  }

  // Marks a stored build as finished with `state`.
  void Finish(const std::string& id, v1::BuildState state) {
    auto rec = store->GetBuild(id);
    REQUIRE(rec.ok());
    rec->build.set_state(state);
    REQUIRE(store->UpdateBuild(*rec, "test").ok());
  }

  Scratch tmp;
  FakeClock clock;
  ::sfactory::testing::FakeProvider provider;
  std::unique_ptr<store::Store> store;
  Catalog catalog;
  recipe::RecipeSet recipes;
  RecordingTarget target;
  std::unique_ptr<Submitter> submitter;
};

TEST_CASE("Submitter stores a new build as QUEUED and admits it", "[queue][submit]") {
  Fixture f;
  auto r = f.Submit("24.11.5");
  REQUIRE(r.ok());
  CHECK(r->outcome == v1::SUBMIT_OUTCOME_CREATED);
  CHECK(r->build.state() == v1::BUILD_STATE_QUEUED);
  CHECK(r->build.owner() == "alice");
  CHECK(r->build.provider() == "fake");
  CHECK(r->build.verify());
  CHECK(r->build.log_size() == 4242);
  CHECK(f.target.admitted == std::vector<std::string>{r->build.id()});
  auto stored = f.store->GetBuild(r->build.id());
  REQUIRE(stored.ok());
  CHECK(stored->build.digest() == r->build.digest());
}

TEST_CASE("Submitter joins a second submit of the same spec to the first", "[queue][submit]") {
  Fixture f;
  auto first = f.Submit("24.11.5", "alice");
  auto second = f.Submit("24.11.5", "bob");
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(second->outcome == v1::SUBMIT_OUTCOME_JOINED);
  CHECK(second->build.id() == first->build.id());
  CHECK(f.target.admitted.size() == 1);
}

TEST_CASE("Submitter lets a verified build serve a no-verify submit, not the other way round",
          "[queue][submit]") {
  Fixture f;
  auto unverified = f.Submit("24.11.5", "alice", "", /*no_verify=*/true);
  REQUIRE(unverified.ok());
  auto verified = f.Submit("24.11.5", "alice");
  REQUIRE(verified.ok());
  CHECK(verified->outcome == v1::SUBMIT_OUTCOME_CREATED);
  auto relaxed = f.Submit("24.11.5", "bob", "", /*no_verify=*/true);
  REQUIRE(relaxed.ok());
  CHECK(relaxed->outcome == v1::SUBMIT_OUTCOME_JOINED);
  CHECK(relaxed->build.id() == unverified->build.id());
}

TEST_CASE("Submitter reuses a succeeded build unless forced", "[queue][submit]") {
  Fixture f;
  auto first = f.Submit("24.11.5");
  REQUIRE(first.ok());
  f.Finish(first->build.id(), v1::BUILD_STATE_SUCCEEDED);
  auto again = f.Submit("24.11.5", "bob");
  REQUIRE(again.ok());
  CHECK(again->outcome == v1::SUBMIT_OUTCOME_REUSED);
  CHECK(again->build.id() == first->build.id());
  auto forced = f.Submit("24.11.5", "bob", "", false, /*force=*/true);
  REQUIRE(forced.ok());
  CHECK(forced->outcome == v1::SUBMIT_OUTCOME_CREATED);
  CHECK(forced->build.id() != first->build.id());
}

TEST_CASE("Submitter does not join or reuse failed builds", "[queue][submit]") {
  Fixture f;
  auto first = f.Submit("24.11.5");
  REQUIRE(first.ok());
  f.Finish(first->build.id(), v1::BUILD_STATE_FAILED);
  auto again = f.Submit("24.11.5");
  REQUIRE(again.ok());
  CHECK(again->outcome == v1::SUBMIT_OUTCOME_CREATED);
}

TEST_CASE("Submitter replays a request_id per owner", "[queue][submit]") {
  Fixture f;
  auto first = f.Submit("24.11.5", "alice", "ci-42", false, /*force=*/true);
  auto replay = f.Submit("24.11.5", "alice", "ci-42", false, /*force=*/true);
  auto other_owner = f.Submit("24.11.5", "bob", "ci-42", false, /*force=*/true);
  REQUIRE(first.ok());
  REQUIRE(replay.ok());
  REQUIRE(other_owner.ok());
  CHECK(replay->outcome == v1::SUBMIT_OUTCOME_REPLAYED);
  CHECK(replay->build.id() == first->build.id());
  CHECK(other_owner->outcome == v1::SUBMIT_OUTCOME_CREATED);
}

TEST_CASE("Submitter refuses a request_id reused with another spec, naming the build",
          "[queue][submit]") {
  Fixture f;
  auto first = f.Submit("24.11.5", "alice", "job-7");
  REQUIRE(first.ok());
  auto other = f.Submit("23.11", "alice", "job-7");
  CHECK(other.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(absl::StrContains(other.status().message(), first->build.id()));
  CHECK(f.target.admitted.size() == 1);
}

TEST_CASE("Submitter refuses what the provider cannot build and unknown versions",
          "[queue][submit]") {
  Fixture f;
  auto unknown = f.Submit("19.05");
  CHECK_FALSE(unknown.ok());
  CHECK(f.target.admitted.empty());
  v1::SubmitBuildRequest long_id;
  long_id.mutable_spec()->set_slurm_version("24.11.5");
  long_id.set_request_id(std::string(129, 'x'));
  auto r = f.submitter->Submit(long_id, "alice");
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("ResolveSpec asks the provider whether it accepts the spec", "[queue][submit]") {
  Fixture f;
  auto local = provider::MakeLocalProvider(f.tmp.path() / "local", "debian-12");
  REQUIRE(local.ok());
  v1::BuildSpec spec;
  spec.set_slurm_version("24.11.5");
  spec.set_os("debian-13");
  auto r = ResolveSpec(spec, {"hello", "debian-12", "x86_64"}, f.catalog, f.recipes, **local);
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(r.status().message(), "builds for the host (debian-12) only"));
  spec.set_os("debian-12");
  CHECK(ResolveSpec(spec, {"hello", "debian-12", "x86_64"}, f.catalog, f.recipes, **local).ok());
}

}  // namespace
}  // namespace sfactory::queue

namespace sfactory::queue {
namespace {

TEST_CASE("BuildWarnings warns past end of support, only for a catalog release",
          "[queue][submit]") {
  auto c = Catalog::LoadFile(SFACTORY_SOURCE_DIR "/templates/catalog.yaml");
  REQUIRE(c.ok());
  const absl::Time dec_2026 = absl::FromUnixSeconds(1796169600);  // 2026-12-02 UTC
  recipe::Recipe native;  // builds the catalog's release
  Resolved r;
  r.recipe = &native;
  r.release = *c->Resolve("25.05");
  auto w = BuildWarnings(r, *c, dec_2026);
  REQUIRE(w.size() == 1);
  CHECK(absl::StrContains(w[0], "25.05 reached its end of support in November 2026"));
  r.release = *c->Resolve("26.05");
  CHECK(BuildWarnings(r, *c, dec_2026).empty());

  recipe::Recipe fixed;  // a test recipe: its own tarball, no Slurm release
  fixed.fixed_source = SourceFile{};
  r.recipe = &fixed;
  r.release = *c->Resolve("25.05");
  CHECK(BuildWarnings(r, *c, dec_2026).empty());
}

}  // namespace
}  // namespace sfactory::queue
