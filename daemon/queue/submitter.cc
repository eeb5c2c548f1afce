#include "daemon/queue/submitter.h"

#include <algorithm>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/echo.h"
#include "common/status.h"
#include "google/protobuf/util/message_differencer.h"
#include "common/timestamps.h"

namespace sfactory::queue {

namespace {
constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
}  // namespace

bool IsBuildId(absl::string_view id) {
  if (id.size() != 10 || id[0] != 'b') return false;
  for (char c : id.substr(1)) {
    if (absl::string_view(kAlphabet).find(c) == absl::string_view::npos) return false;
  }
  return true;
}

std::string NewBuildId() {
  thread_local absl::BitGen gen;
  std::string id = "b";
  for (int i = 0; i < 9; ++i) id += kAlphabet[absl::Uniform(gen, 0u, 32u)];
  return id;
}

absl::StatusOr<Resolved> ResolveSpec(const v1::BuildSpec& spec, const SpecDefaults& defaults,
                                     const Catalog& catalog, const recipe::RecipeSet& recipes,
                                     const provider::Provider& provider) {
  SF_ASSIGN_OR_RETURN(v1::BuildSpec normalized, NormalizeSpec(spec, defaults, catalog));
  const recipe::Recipe* r = recipes.Find(normalized.recipe());
  if (!r) {
    std::vector<std::string> names;
    for (const auto* each : recipes.All()) names.push_back(each->name);
    return absl::InvalidArgumentError(absl::StrCat("unknown recipe '", normalized.recipe(),
                                                   "'; this daemon has: ",
                                                   absl::StrJoin(names, ", ")));
  }
  for (const auto& v : normalized.variants()) {
    if (std::find(r->variants.begin(), r->variants.end(), v) == r->variants.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "recipe ", r->name, " has no variant '", v, "'",
          r->variants.empty() ? "; it takes none" : "; it takes: " + absl::StrJoin(r->variants, ", ")));
    }
  }
  if (normalized.arch() != defaults.arch) {
    return absl::InvalidArgumentError(absl::StrCat("this daemon builds for ", defaults.arch,
                                                   " only (no cross builds); got ",
                                                   normalized.arch()));
  }
  SF_RETURN_IF_ERROR(provider.Accepts(normalized));
  SF_ASSIGN_OR_RETURN(const Release* release, catalog.Resolve(normalized.slurm_version()));
  Resolved out;
  *out.build.mutable_spec() = normalized;
  out.build.set_requested_version(spec.slurm_version());
  out.build.set_digest(SpecDigest(normalized, r->digest, r->fixed_source ? "" : release->digest));
  out.recipe = r;
  out.release = release;
  return out;
}

std::vector<std::string> BuildWarnings(const Resolved& resolved, const Catalog& catalog,
                                       absl::Time now) {
  std::vector<std::string> out;
  if (resolved.recipe->fixed_source || !resolved.release) return out;
  std::string warning = catalog.SupportWarning(*resolved.release, now);
  if (!warning.empty()) out.push_back(std::move(warning));
  return out;
}

Submitter::Submitter(SubmitOptions options, store::Store* store, const provider::Provider* provider,
                     const recipe::RecipeSet* recipes, const Catalog* catalog, Clock* clock,
                     SubmitTarget* target)
    : options_(std::move(options)),
      store_(store),
      provider_(provider),
      recipes_(recipes),
      catalog_(catalog),
      clock_(clock),
      target_(target) {}

namespace {

// A request_id names one build: a retry with another spec is a caller bug
// (a CI job reusing its id for another version) and must not be told that
// the other build is its own.
absl::Status SameSpecOrConflict(const v1::Build& prior, const v1::Build& wanted,
                                absl::string_view request_id) {
  if (google::protobuf::util::MessageDifferencer::Equals(prior.spec(), wanted.spec())) {
    return absl::OkStatus();
  }
  return absl::AlreadyExistsError(absl::StrCat(
      "request_id ", EchoInput(request_id), " already names build ", prior.id(), " (",
      prior.spec().ShortDebugString(), "); this request asks for ",
      wanted.spec().ShortDebugString(), ": use a new request_id for another build"));
}

}  // namespace

SubmitResult Submitter::Answer(v1::Build build, v1::SubmitOutcome outcome) {
  return SubmitResult{target_->Present(std::move(build)), outcome};
}

absl::StatusOr<SubmitResult> Submitter::Submit(const v1::SubmitBuildRequest& request,
                                               const std::string& owner) {
  if (request.request_id().size() > 128) {
    return absl::InvalidArgumentError("request_id is longer than 128 characters");
  }
  SF_ASSIGN_OR_RETURN(Resolved resolved,
                      ResolveSpec(request.spec(), options_.defaults, *catalog_, *recipes_, *provider_));
  // Whatever the outcome, the build is of the release the request resolved to.
  std::vector<std::string> warnings = BuildWarnings(resolved, *catalog_, clock_->Now());
  SF_ASSIGN_OR_RETURN(SubmitResult result, Queue(request, owner, std::move(resolved)));
  result.warnings = std::move(warnings);
  return result;
}

absl::StatusOr<SubmitResult> Submitter::Queue(const v1::SubmitBuildRequest& request,
                                              const std::string& owner_in, Resolved resolved) {
  std::string owner = owner_in.empty() ? "anonymous" : owner_in;
  bool verify =
      !request.no_verify() && options_.verify_by_default && !resolved.recipe->verify.empty();

  // Read-only answers first, without the submit lock: a replayed request_id
  // and a succeeded build stay what they are.
  if (!request.request_id().empty()) {
    SF_ASSIGN_OR_RETURN(auto prior, store_->FindByRequestId(owner, request.request_id()));
    if (prior) {
      SF_RETURN_IF_ERROR(SameSpecOrConflict(prior->build, resolved.build, request.request_id()));
      return Answer(std::move(prior->build), v1::SUBMIT_OUTCOME_REPLAYED);
    }
  }
  if (!request.force()) {
    SF_ASSIGN_OR_RETURN(auto done, store_->FindSucceededByDigest(resolved.build.digest(), verify));
    if (done) return Answer(std::move(done->build), v1::SUBMIT_OUTCOME_REUSED);
  }
  // Joining and inserting must not interleave, or two identical submits
  // could both insert: one submitter at a time (the leader) decides and
  // inserts, for everything queued meanwhile at once (one transaction).
  Pending pending{&request, owner, std::move(resolved.build), verify};
  std::vector<Pending*> batch;
  {
    absl::MutexLock lock(&mu_);
    batch_.push_back(&pending);
    // Wait for a leader to answer, or to become the leader.
    auto answered_or_leaderless = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return pending.done || !leader_;
    };
    mu_.Await(absl::Condition(&answered_or_leaderless));
    if (pending.done) return std::move(pending.result);
    leader_ = true;
    batch.swap(batch_);
  }
  DecideAndInsert(batch);
  // One batch per leader; whoever queued meanwhile leads the next. A
  // follower may return (and its Pending go away) once done is set.
  absl::MutexLock lock(&mu_);
  for (Pending* p : batch) p->done = true;
  leader_ = false;
  return std::move(pending.result);
}

void Submitter::DecideAndInsert(const std::vector<Pending*>& batch) {
  // What this batch creates, and who joins or replays one of those.
  std::vector<Pending*> creators;
  std::vector<store::BuildRecord> created;
  struct Dependent {
    Pending* p;
    size_t index;  // into created
    v1::SubmitOutcome outcome;
  };
  std::vector<Dependent> dependents;
  created.reserve(batch.size());
  auto decide = [&](Pending& p) -> absl::Status {
    const v1::SubmitBuildRequest& request = *p.request;
    if (!request.request_id().empty()) {
      for (size_t i = 0; i < created.size(); ++i) {
        if (created[i].build.owner() == p.owner &&
            created[i].build.request_id() == request.request_id()) {
          SF_RETURN_IF_ERROR(SameSpecOrConflict(created[i].build, p.build, request.request_id()));
          dependents.push_back({&p, i, v1::SUBMIT_OUTCOME_REPLAYED});
          return absl::OkStatus();
        }
      }
      SF_ASSIGN_OR_RETURN(auto prior, store_->FindByRequestId(p.owner, request.request_id()));
      if (prior) {
        SF_RETURN_IF_ERROR(SameSpecOrConflict(prior->build, p.build, request.request_id()));
        p.result = Answer(std::move(prior->build), v1::SUBMIT_OUTCOME_REPLAYED);
        return absl::OkStatus();
      }
    }
    if (!request.force()) {
      // A verified build serves a submit that does not ask for verify, not
      // the other way round.
      SF_ASSIGN_OR_RETURN(auto active, store_->FindActiveByDigest(p.build.digest()));
      if (active && (active->build.verify() || !p.verify)) {
        p.result = Answer(std::move(active->build), v1::SUBMIT_OUTCOME_JOINED);
        return absl::OkStatus();
      }
      for (size_t i = 0; i < created.size(); ++i) {
        if (created[i].build.digest() == p.build.digest() &&
            (created[i].build.verify() || !p.verify)) {
          dependents.push_back({&p, i, v1::SUBMIT_OUTCOME_JOINED});
          return absl::OkStatus();
        }
      }
    }
    store::BuildRecord& rec = created.emplace_back();
    rec.build = std::move(p.build);
    rec.build.set_id(NewBuildId());
    rec.build.set_state(v1::BUILD_STATE_QUEUED);
    rec.build.set_priority(request.priority());
    rec.build.set_owner(p.owner);
    rec.build.set_request_id(request.request_id());
    *rec.build.mutable_created_at() = ToTimestamp(clock_->Now());
    rec.build.set_verify(p.verify);
    rec.build.set_provider(provider_->name());
    rec.keep_instance_on_failure = request.keep_instance_on_failure();
    creators.push_back(&p);
    return absl::OkStatus();
  };
  for (Pending* p : batch) {
    if (absl::Status s = decide(*p); !s.ok()) p->result = s;
  }
  if (created.empty()) return;

  std::vector<store::BuildRecord*> records;
  for (auto& rec : created) records.push_back(&rec);
  if (absl::Status s = store_->InsertBuilds(records); !s.ok()) {
    if (absl::IsResourceExhausted(s)) {
      s = absl::ResourceExhaustedError(absl::StrCat(
          "cannot queue the build: ", s.message(), " in ", options_.space_dir.string(),
          "; free space there and submit again (nothing stored was lost)"));
    }
    for (Pending* p : creators) p->result = s;
    for (const Dependent& d : dependents) d.p->result = s;
    return;
  }
  target_->Admit(created);
  for (size_t i = 0; i < created.size(); ++i) {
    creators[i]->result = Answer(created[i].build, v1::SUBMIT_OUTCOME_CREATED);
  }
  for (const Dependent& d : dependents) {
    d.p->result = Answer(created[d.index].build, d.outcome);
  }
}

}  // namespace sfactory::queue
