// Build attempts, the source cache index and artifact lookup by digest.
#include "daemon/store/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "daemon/store/sqlite.h"
#include "daemon/store/store_internal.h"

namespace sfactory::store {
namespace {

v1::Source ReadSource(const Statement& stmt) {
  v1::Source source;
  source.set_name(stmt.Text(0));
  source.set_sha256(stmt.Text(1));
  source.set_size(static_cast<uint64_t>(stmt.Int(2)));
  *source.mutable_added_at() = TimestampFromMicros(stmt.Int(3));
  return source;
}

absl::StatusOr<std::optional<v1::Source>> QueryOneSource(StatementCache& cache, const char* sql,
                                                         absl::string_view key) {
  SF_ASSIGN_OR_RETURN(Statement stmt, cache.Get(sql));
  stmt.BindText(1, key);
  absl::StatusOr<bool> row = stmt.Step();
  if (!row.ok()) return Annotate(row.status(), "find source");
  if (!*row) return std::nullopt;
  return ReadSource(stmt);
}

}  // namespace

absl::Status Store::StartAttempt(absl::string_view build_id, int attempt, absl::Time at) {
  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(
      Statement stmt,
      stmts_->Get("INSERT INTO attempts (build_id, attempt, started_at) VALUES (?1, ?2, ?3)"
                  " ON CONFLICT (build_id, attempt) DO UPDATE SET"
                  " started_at = excluded.started_at, finished_at = NULL, result = ''"));
  stmt.BindText(1, build_id).BindInt(2, attempt).BindInt(3, absl::ToUnixMicros(at));
  absl::Status status = stmt.Run();
  // The only foreign key here is the build.
  if (absl::IsNotFound(status)) return absl::NotFoundError(absl::StrCat("no build ", build_id));
  return Annotate(status, absl::StrCat("start attempt ", attempt, " of build ", build_id));
}

absl::Status Store::FinishAttempt(absl::string_view build_id, int attempt, absl::Time at,
                                  absl::string_view result) {
  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(Statement stmt,
                      stmts_->Get("UPDATE attempts SET finished_at = ?3, result = ?4"
                                  " WHERE build_id = ?1 AND attempt = ?2"));
  stmt.BindText(1, build_id)
      .BindInt(2, attempt)
      .BindInt(3, absl::ToUnixMicros(at))
      .BindText(4, result);
  SF_RETURN_IF_ERROR(
      Annotate(stmt.Run(), absl::StrCat("finish attempt ", attempt, " of build ", build_id)));
  if (stmt.Changes() == 0) {
    return absl::NotFoundError(
        absl::StrCat("attempt ", attempt, " of build ", build_id, " was never started"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AttemptRecord>> Store::ListAttempts(absl::string_view build_id) {
  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(Statement stmt,
                      stmts_->Get("SELECT attempt, started_at, finished_at, result FROM attempts"
                                  " WHERE build_id = ?1 ORDER BY attempt"));
  stmt.BindText(1, build_id);
  std::vector<AttemptRecord> attempts;
  while (true) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return Annotate(row.status(), "list attempts");
    if (!*row) break;
    AttemptRecord record;
    record.attempt = static_cast<int>(stmt.Int(0));
    record.started_at = absl::FromUnixMicros(stmt.Int(1));
    if (!stmt.IsNull(2)) record.finished_at = absl::FromUnixMicros(stmt.Int(2));
    record.result = stmt.Text(3);
    attempts.push_back(std::move(record));
  }
  return attempts;
}

absl::Status Store::InsertSource(const v1::Source& source) {
  if (source.name().empty()) return absl::InvalidArgumentError("insert source: empty name");
  int64_t added_at =
      source.has_added_at() ? ToMicros(source.added_at()) : absl::ToUnixMicros(absl::Now());
  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*stmts_));
  SF_ASSIGN_OR_RETURN(std::optional<v1::Source> stored,
                      QueryOneSource(*stmts_,
                                     "SELECT name, sha256, size, added_at FROM sources "
                                     "WHERE name = ?1",
                                     source.name()));
  if (stored) {
    if (stored->sha256() == source.sha256()) return absl::OkStatus();  // the same bytes again
    return absl::AlreadyExistsError(absl::StrCat(
        "source ", source.name(), " is stored with sha256 ", stored->sha256(),
        "; these bytes have sha256 ", source.sha256(),
        ". A stored name is never re-pointed: upload other bytes under another name"));
  }
  {
    SF_ASSIGN_OR_RETURN(
        Statement stmt,
        stmts_->Get("INSERT INTO sources (name, sha256, size, added_at) VALUES (?1, ?2, ?3, ?4)"));
    stmt.BindText(1, source.name())
        .BindText(2, source.sha256())
        .BindInt(3, static_cast<int64_t>(source.size()))
        .BindInt(4, added_at);
    SF_RETURN_IF_ERROR(Annotate(stmt.Run(), absl::StrCat("insert source ", source.name())));
  }
  return Annotate(txn.Commit(), absl::StrCat("insert source ", source.name()));
}

absl::StatusOr<std::vector<v1::Source>> Store::ListSources() {
  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(
      Statement stmt,
      stmts_->Get("SELECT name, sha256, size, added_at FROM sources ORDER BY name"));
  std::vector<v1::Source> sources;
  while (true) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return Annotate(row.status(), "list sources");
    if (!*row) break;
    sources.push_back(ReadSource(stmt));
  }
  return sources;
}

absl::StatusOr<std::optional<v1::Source>> Store::FindSourceByName(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  return QueryOneSource(*stmts_,
                        "SELECT name, sha256, size, added_at FROM sources WHERE name = ?1", name);
}

absl::StatusOr<std::optional<v1::Source>> Store::FindSourceBySha256(absl::string_view sha256) {
  absl::MutexLock lock(&mu_);
  return QueryOneSource(*stmts_,
                        "SELECT name, sha256, size, added_at FROM sources WHERE sha256 = ?1"
                        " ORDER BY added_at DESC, name LIMIT 1",
                        sha256);
}

absl::StatusOr<std::optional<v1::Artifact>> Store::FindArtifactBySha256(absl::string_view sha256) {
  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(Statement stmt,
                      stmts_->Get("SELECT name, sha256, size, kind FROM artifacts"
                                  " WHERE sha256 = ?1 ORDER BY rowid DESC LIMIT 1"));
  stmt.BindText(1, sha256);
  absl::StatusOr<bool> row = stmt.Step();
  if (!row.ok()) return Annotate(row.status(), "find artifact by sha256");
  if (!*row) return std::nullopt;
  v1::Artifact artifact;
  artifact.set_name(stmt.Text(0));
  artifact.set_sha256(stmt.Text(1));
  artifact.set_size(static_cast<uint64_t>(stmt.Int(2)));
  artifact.set_kind(stmt.Text(3));
  return artifact;
}

}  // namespace sfactory::store
