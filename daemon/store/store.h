// The daemon's durable state: builds, their state history, attempts,
// artifacts and the source cache index, in one SQLite database in WAL mode.
//
// Durability: synchronous=NORMAL in WAL mode. A committed call survives the
// daemon being killed at any point (kill -9); the last commits before an OS
// crash or power loss may be lost, never a torn database.
//
// Thread-safety: every method may be called from any thread; calls are
// serialised on one connection.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "absl/time/time.h"
#include "sfactory/v1/sfactory.pb.h"

struct sqlite3;

namespace sfactory::store {

class StatementCache;

// A build as the daemon keeps it: the public message plus what only the
// daemon needs.
struct BuildRecord {
  v1::Build build;
  // Submission order, assigned by InsertBuild; strictly increasing.
  int64_t seq = 0;
  bool keep_instance_on_failure = false;
};

struct BuildEventRecord {
  absl::Time time;
  v1::BuildState state = v1::BUILD_STATE_UNSPECIFIED;
  std::string message;
};

struct AttemptRecord {
  int attempt = 0;
  absl::Time started_at;
  std::optional<absl::Time> finished_at;  // unset while it runs
  std::string result;
};

// An API token as stored: never the secret itself, only its sha256.
struct TokenRecord {
  std::string id;    // public part of the token text; primary key
  std::string name;  // unique; what `tokens revoke` names
  std::string user;  // the identity the token acts as
  bool admin = false;
  std::string created_by;
  std::string secret_sha256;  // hex
  absl::Time created_at;
  std::optional<absl::Time> last_used_at;
  std::optional<absl::Time> expires_at;  // never expires when unset
};

struct ListFilter {
  std::vector<v1::BuildState> states;  // any state when empty
  std::string owner;                   // any owner when empty
  std::string version_prefix;          // any version when empty
  int page_size = 50;                  // clamped to [1, 1000]
  std::string page_token;              // opaque, from a previous ListResult
};

struct ListResult {
  std::vector<v1::Build> builds;  // newest first
  std::string next_page_token;    // empty on the last page
};

struct OpenOptions {
  // The SQLite VFS to reach the file through, by its registered name; empty
  // is SQLite's default. Tests register a fault-injecting one
  // (tests/fault_vfs.h). NotFound when no VFS has that name.
  std::string vfs;
};

class Store {
 public:
  // Opens or creates the database at `path` (its directory must exist),
  // applies schema migrations and sets WAL mode. FailedPrecondition when the
  // file is not an sfactory database or is from a newer schema version.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::filesystem::path& path,
                                                     const OpenOptions& options = {});
  ~Store();

  // Inserts a new build and a first event. Fills record->seq. AlreadyExists
  // when the id exists, or when (owner, request_id) is taken (request_id
  // non-empty) — the caller then looks the earlier build up.
  absl::Status InsertBuild(BuildRecord* record);
  // Inserts several in one transaction (group commit for concurrent
  // submits): all or none. Fills each record's seq, in the given order.
  absl::Status InsertBuilds(absl::Span<BuildRecord* const> records);

  // NotFound when no such build.
  absl::StatusOr<BuildRecord> GetBuild(absl::string_view id);

  absl::StatusOr<std::optional<BuildRecord>> FindByRequestId(absl::string_view owner,
                                                             absl::string_view request_id);
  // A QUEUED or RUNNING build with this digest (the oldest), if any.
  absl::StatusOr<std::optional<BuildRecord>> FindActiveByDigest(absl::string_view digest);
  // The newest SUCCEEDED build with this digest; with `require_verified`,
  // only one whose verify flag is set.
  absl::StatusOr<std::optional<BuildRecord>> FindSucceededByDigest(absl::string_view digest,
                                                                   bool require_verified);

  // Replaces the stored build (matched by id; NotFound if missing). When the
  // state differs from the stored one, appends an event with `message`.
  // Artifacts in record.build.artifacts are stored with it.
  absl::Status UpdateBuild(const BuildRecord& record, absl::string_view message = {});

  absl::StatusOr<ListResult> ListBuilds(const ListFilter& filter);

  // Every QUEUED or RUNNING build, in submission order (for restart recovery
  // and for refilling the scheduler).
  absl::StatusOr<std::vector<BuildRecord>> LoadUnfinished();

  // Oldest first. NotFound when no such build.
  absl::StatusOr<std::vector<BuildEventRecord>> ListEvents(absl::string_view build_id);

  // Attempt bookkeeping: one row per run of a build. StartAttempt is
  // NotFound for an unknown build; starting an attempt again restarts it.
  // FinishAttempt is NotFound when that attempt was never started.
  absl::Status StartAttempt(absl::string_view build_id, int attempt, absl::Time at);
  absl::Status FinishAttempt(absl::string_view build_id, int attempt, absl::Time at,
                             absl::string_view result);
  // Oldest attempt first; empty when there are none.
  absl::StatusOr<std::vector<AttemptRecord>> ListAttempts(absl::string_view build_id);

  // Source cache index (the bytes live in the cache directory).
  // A name is stored once: inserting it again with the same sha256 is a
  // no-op, with another sha256 AlreadyExists naming both digests.
  absl::Status InsertSource(const v1::Source& source);
  absl::StatusOr<std::vector<v1::Source>> ListSources();
  absl::StatusOr<std::optional<v1::Source>> FindSourceByName(absl::string_view name);
  absl::StatusOr<std::optional<v1::Source>> FindSourceBySha256(absl::string_view sha256);

  // Any stored artifact with this digest (for fetch-by-digest).
  absl::StatusOr<std::optional<v1::Artifact>> FindArtifactBySha256(absl::string_view sha256);

  // Tokens. InsertToken: AlreadyExists when the name (or id) is taken.
  absl::Status InsertToken(const TokenRecord& token);
  absl::StatusOr<std::optional<TokenRecord>> FindToken(absl::string_view id);
  absl::StatusOr<std::vector<TokenRecord>> ListTokens();  // by name
  // Deletes the token called `name` and returns what it was; NotFound if none.
  absl::StatusOr<TokenRecord> DeleteToken(absl::string_view name);
  // Records a use; a token deleted meanwhile is not an error.
  absl::Status TouchToken(absl::string_view id, absl::Time at);

 private:
  Store(sqlite3* db, std::unique_ptr<StatementCache> stmts);
  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  // Finalized before db_ is closed.
  std::unique_ptr<StatementCache> stmts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sfactory::store
