// What a submit means: the spec resolved to a build and its digest, then
// one of REPLAYED (the same request_id again), REUSED (an identical build
// already succeeded), JOINED (an identical build is queued or running: a
// second submit of the same spec joins the first) or CREATED (stored and
// handed to the queue).
//
// Concurrent submits are decided by one submitter at a time, the leader,
// for every submit that queued up meanwhile, and the new builds are
// inserted in one SQLite transaction (group commit). The read-only answers
// (REPLAYED from the store, REUSED) never wait for the leader.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/synchronization/mutex.h"
#include "common/catalog.h"
#include "common/clock.h"
#include "common/spec.h"
#include "daemon/provider/provider.h"
#include "daemon/recipe/recipe.h"
#include "daemon/store/store.h"

namespace sfactory::queue {

struct SubmitResult {
  v1::Build build;
  v1::SubmitOutcome outcome = v1::SUBMIT_OUTCOME_UNSPECIFIED;
  // One line each for the caller (Catalog::SupportWarning).
  std::vector<std::string> warnings;
};

// What the submitter hands its results to (the build manager in the daemon,
// a fake in tests).
class SubmitTarget {
 public:
  virtual ~SubmitTarget() = default;
  // Queues builds that were just stored, in order.
  virtual void Admit(const std::vector<store::BuildRecord>& created) = 0;
  // A build as callers see it (queue position, log size).
  virtual v1::Build Present(v1::Build build) = 0;
};

struct SubmitOptions {
  SpecDefaults defaults;
  bool verify_by_default = true;
  // Named in the message when the store is full.
  std::filesystem::path space_dir;
};

// A resolved spec: the build to store (spec normalised, digest set) and
// what it resolved through.
struct Resolved {
  v1::Build build;
  const recipe::Recipe* recipe = nullptr;
  const Release* release = nullptr;
};

// Normalises `spec` (a series resolves through the catalog to its pinned
// release) and checks it against the recipes, the architecture and what
// `provider` can build. InvalidArgument/NotFound say what is allowed.
absl::StatusOr<Resolved> ResolveSpec(const v1::BuildSpec& spec, const SpecDefaults& defaults,
                                     const Catalog& catalog, const recipe::RecipeSet& recipes,
                                     const provider::Provider& provider);

// The warnings a build of `resolved` carries (Catalog::SupportWarning):
// none for a recipe with a fixed source, which builds no catalog release.
std::vector<std::string> BuildWarnings(const Resolved& resolved, const Catalog& catalog,
                                       absl::Time now);

class Submitter {
 public:
  Submitter(SubmitOptions options, store::Store* store, const provider::Provider* provider,
            const recipe::RecipeSet* recipes, const Catalog* catalog, Clock* clock,
            SubmitTarget* target);

  absl::StatusOr<SubmitResult> Submit(const v1::SubmitBuildRequest& request,
                                      const std::string& owner);

 private:
  // Replays, reuses, joins or queues the resolved request.
  absl::StatusOr<SubmitResult> Queue(const v1::SubmitBuildRequest& request,
                                     const std::string& owner, Resolved resolved);
  // A submit that passed the read-only checks, waiting for the leader.
  struct Pending {
    const v1::SubmitBuildRequest* request;
    std::string owner;
    v1::Build build;  // resolved spec and digest
    bool verify = false;
    absl::StatusOr<SubmitResult> result = absl::InternalError("submit was not processed");
    bool done = false;  // guarded by mu_
  };
  // Joins, replays or creates each (in order, also against each other) and
  // inserts the new builds in one transaction. Called by the leader only.
  void DecideAndInsert(const std::vector<Pending*>& batch);
  SubmitResult Answer(v1::Build build, v1::SubmitOutcome outcome);

  const SubmitOptions options_;
  store::Store* const store_;
  const provider::Provider* const provider_;
  const recipe::RecipeSet* const recipes_;
  const Catalog* const catalog_;
  Clock* const clock_;
  SubmitTarget* const target_;

  // Submits waiting for the leader, and whether one is at work.
  absl::Mutex mu_;
  std::vector<Pending*> batch_ ABSL_GUARDED_BY(mu_);
  bool leader_ ABSL_GUARDED_BY(mu_) = false;
};

// A new random build id: "b" + 9 base32 characters.
std::string NewBuildId();
// Whether `id` has the form NewBuildId makes.
bool IsBuildId(absl::string_view id);

}  // namespace sfactory::queue
