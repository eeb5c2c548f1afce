// Builds, their state history (build_events) and their artifacts rows.
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

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;

// Every query that yields builds selects these columns, in this order.
#define SF_BUILD_COLUMNS "seq, keep_instance, blob"

// ?1 id, ?2 digest, ?3 state, ?4 priority, ?5 owner, ?6 request_id,
// ?7 version, ?8 created_at, ?9 verify, ?10 keep_instance, ?11 blob.
constexpr const char* kInsertBuildSql =
    "INSERT INTO builds (id, digest, state, priority, owner, request_id, version, "
    "created_at, verify, keep_instance, blob) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
constexpr const char* kUpdateBuildSql =
    "UPDATE builds SET digest = ?2, state = ?3, priority = ?4, owner = ?5, "
    "request_id = ?6, version = ?7, created_at = ?8, verify = ?9, keep_instance = ?10, "
    "blob = ?11 WHERE id = ?1";

void BindBuild(Statement& stmt, const BuildRecord& record, absl::string_view blob) {
  const v1::Build& build = record.build;
  stmt.BindText(1, build.id())
      .BindText(2, build.digest())
      .BindInt(3, build.state())
      .BindInt(4, build.priority())
      .BindText(5, build.owner())
      .BindText(6, build.request_id())
      .BindText(7, build.spec().slurm_version())
      .BindInt(8, ToMicros(build.created_at()))
      .BindInt(9, build.verify() ? 1 : 0)
      .BindInt(10, record.keep_instance_on_failure ? 1 : 0)
      .BindBlob(11, blob);
}

absl::StatusOr<BuildRecord> ReadBuild(const Statement& stmt) {
  BuildRecord record;
  record.seq = stmt.Int(0);
  record.keep_instance_on_failure = stmt.Int(1) != 0;
  absl::string_view blob = stmt.Blob(2);
  if (!record.build.ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
    return absl::DataLossError(
        absl::StrCat("stored build with seq ", record.seq, " does not parse"));
  }
  return record;
}

// Runs a query selecting SF_BUILD_COLUMNS; `bind` binds its parameters.
// At most `limit` rows (all when negative).
template <typename BindFn>
absl::StatusOr<std::vector<BuildRecord>> QueryBuilds(StatementCache& cache, const char* sql,
                                                     absl::string_view what, BindFn bind,
                                                     int limit = -1) {
  SF_ASSIGN_OR_RETURN(Statement stmt, cache.Get(sql));
  bind(stmt);
  std::vector<BuildRecord> out;
  while (limit < 0 || static_cast<int>(out.size()) < limit) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return Annotate(row.status(), what);
    if (!*row) break;
    SF_ASSIGN_OR_RETURN(BuildRecord record, ReadBuild(stmt));
    out.push_back(std::move(record));
  }
  return out;
}

template <typename BindFn>
absl::StatusOr<std::optional<BuildRecord>> QueryOneBuild(StatementCache& cache, const char* sql,
                                                         absl::string_view what, BindFn bind) {
  SF_ASSIGN_OR_RETURN(std::vector<BuildRecord> found,
                      QueryBuilds(cache, sql, what, std::move(bind), 1));
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

absl::Status AppendEvent(StatementCache& cache, absl::string_view build_id, int64_t micros,
                         v1::BuildState state, absl::string_view message) {
  SF_ASSIGN_OR_RETURN(
      Statement stmt,
      cache.Get("INSERT INTO build_events (build_id, time, state, message) "
                "VALUES (?1, ?2, ?3, ?4)"));
  stmt.BindText(1, build_id).BindInt(2, micros).BindInt(3, state).BindText(4, message);
  return Annotate(stmt.Run(), "append build event");
}

absl::Status ReplaceArtifacts(StatementCache& cache, const v1::Build& build) {
  {
    SF_ASSIGN_OR_RETURN(Statement del, cache.Get("DELETE FROM artifacts WHERE build_id = ?1"));
    del.BindText(1, build.id());
    SF_RETURN_IF_ERROR(Annotate(del.Run(), "delete artifacts"));
  }
  for (const v1::Artifact& artifact : build.artifacts()) {
    SF_ASSIGN_OR_RETURN(
        Statement ins,
        cache.Get("INSERT INTO artifacts (build_id, name, sha256, size, kind) "
                  "VALUES (?1, ?2, ?3, ?4, ?5)"));
    ins.BindText(1, build.id())
        .BindText(2, artifact.name())
        .BindText(3, artifact.sha256())
        .BindInt(4, static_cast<int64_t>(artifact.size()))
        .BindText(5, artifact.kind());
    SF_RETURN_IF_ERROR(Annotate(ins.Run(), "insert artifact"));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> BuildExists(StatementCache& cache, absl::string_view id) {
  SF_ASSIGN_OR_RETURN(Statement stmt, cache.Get("SELECT 1 FROM builds WHERE id = ?1"));
  stmt.BindText(1, id);
  return stmt.Step();
}

// Page tokens are the decimal seq of the last build on the previous page.
absl::StatusOr<int64_t> ParsePageToken(absl::string_view token) {
  int64_t seq = 0;
  bool digits = !token.empty() && token.size() <= 19 &&
                std::all_of(token.begin(), token.end(), absl::ascii_isdigit);
  if (!digits || !absl::SimpleAtoi(token, &seq) || seq <= 0) {
    return absl::InvalidArgumentError("malformed page_token");
  }
  return seq;
}
}  // namespace

absl::Status Store::InsertBuild(BuildRecord* record) { return InsertBuilds({record}); }

absl::Status Store::InsertBuilds(absl::Span<BuildRecord* const> records) {
  std::vector<std::string> blobs;
  blobs.reserve(records.size());
  for (const BuildRecord* record : records) {
    const v1::Build& build = record->build;
    if (build.id().empty()) return absl::InvalidArgumentError("insert build: empty build id");
    if (!build.SerializeToString(&blobs.emplace_back())) {
      return absl::InternalError(absl::StrCat("insert build ", build.id(), ": cannot serialize"));
    }
  }
  std::vector<int64_t> seqs;
  seqs.reserve(records.size());

  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*stmts_));
  for (size_t i = 0; i < records.size(); ++i) {
    const v1::Build& build = records[i]->build;
    {
      SF_ASSIGN_OR_RETURN(Statement stmt, stmts_->Get(kInsertBuildSql));
      BindBuild(stmt, *records[i], blobs[i]);
      absl::Status status = stmt.Run();
      if (absl::IsAlreadyExists(status)) {
        if (absl::StrContains(status.message(), "builds.id")) {
          return absl::AlreadyExistsError(absl::StrCat("build ", build.id(), " already exists"));
        }
        return absl::AlreadyExistsError(absl::StrCat("request_id \"", build.request_id(),
                                                     "\" of ", build.owner(),
                                                     " is already used by another build"));
      }
      SF_RETURN_IF_ERROR(Annotate(status, absl::StrCat("insert build ", build.id())));
    }
    seqs.push_back(sqlite3_last_insert_rowid(db_));
    int64_t event_time =
        build.has_created_at() ? ToMicros(build.created_at()) : absl::ToUnixMicros(absl::Now());
    SF_RETURN_IF_ERROR(AppendEvent(*stmts_, build.id(), event_time, build.state(), "queued"));
    SF_RETURN_IF_ERROR(ReplaceArtifacts(*stmts_, build));
  }
  SF_RETURN_IF_ERROR(Annotate(txn.Commit(), records.size() == 1
                                                ? absl::StrCat("insert build ", records[0]->build.id())
                                                : absl::StrCat("insert ", records.size(), " builds")));
  for (size_t i = 0; i < records.size(); ++i) records[i]->seq = seqs[i];
  return absl::OkStatus();
}

absl::StatusOr<BuildRecord> Store::GetBuild(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(std::optional<BuildRecord> found,
                      QueryOneBuild(*stmts_,
                                    "SELECT " SF_BUILD_COLUMNS " FROM builds WHERE id = ?1",
                                    "get build", [&](Statement& s) { s.BindText(1, id); }));
  if (!found) return absl::NotFoundError(absl::StrCat("no build ", id));
  return std::move(*found);
}

absl::StatusOr<std::optional<BuildRecord>> Store::FindByRequestId(absl::string_view owner,
                                                                   absl::string_view request_id) {
  if (request_id.empty()) return std::nullopt;
  absl::MutexLock lock(&mu_);
  return QueryOneBuild(
      *stmts_, "SELECT " SF_BUILD_COLUMNS " FROM builds WHERE owner = ?1 AND request_id = ?2",
      "find build by request_id",
      [&](Statement& s) { s.BindText(1, owner).BindText(2, request_id); });
}

absl::StatusOr<std::optional<BuildRecord>> Store::FindActiveByDigest(absl::string_view digest) {
  absl::MutexLock lock(&mu_);
  return QueryOneBuild(*stmts_,
                       "SELECT " SF_BUILD_COLUMNS
                       " FROM builds WHERE digest = ?1 AND state IN (?2, ?3) ORDER BY seq",
                       "find active build by digest", [&](Statement& s) {
                         s.BindText(1, digest)
                             .BindInt(2, v1::BUILD_STATE_QUEUED)
                             .BindInt(3, v1::BUILD_STATE_RUNNING);
                       });
}

absl::StatusOr<std::optional<BuildRecord>> Store::FindSucceededByDigest(absl::string_view digest,
                                                                        bool require_verified) {
  absl::MutexLock lock(&mu_);
  return QueryOneBuild(*stmts_,
                       "SELECT " SF_BUILD_COLUMNS
                       " FROM builds WHERE digest = ?1 AND state = ?2 AND (?3 = 0 OR verify = 1)"
                       " ORDER BY seq DESC",
                       "find succeeded build by digest", [&](Statement& s) {
                         s.BindText(1, digest)
                             .BindInt(2, v1::BUILD_STATE_SUCCEEDED)
                             .BindInt(3, require_verified ? 1 : 0);
                       });
}

absl::Status Store::UpdateBuild(const BuildRecord& record, absl::string_view message) {
  const v1::Build& build = record.build;
  std::string blob;
  if (!build.SerializeToString(&blob)) {
    return absl::InternalError(absl::StrCat("update build ", build.id(), ": cannot serialize"));
  }
  const std::string what = absl::StrCat("update build ", build.id());

  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*stmts_));
  int64_t old_state = 0;
  {
    SF_ASSIGN_OR_RETURN(Statement stmt, stmts_->Get("SELECT state FROM builds WHERE id = ?1"));
    stmt.BindText(1, build.id());
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return Annotate(row.status(), what);
    if (!*row) return absl::NotFoundError(absl::StrCat("no build ", build.id()));
    old_state = stmt.Int(0);
  }
  {
    SF_ASSIGN_OR_RETURN(Statement stmt, stmts_->Get(kUpdateBuildSql));
    BindBuild(stmt, record, blob);
    SF_RETURN_IF_ERROR(Annotate(stmt.Run(), what));
  }
  if (old_state != build.state()) {
    SF_RETURN_IF_ERROR(AppendEvent(*stmts_, build.id(), absl::ToUnixMicros(absl::Now()),
                                   build.state(), message));
  }
  SF_RETURN_IF_ERROR(ReplaceArtifacts(*stmts_, build));
  return Annotate(txn.Commit(), what);
}

absl::StatusOr<ListResult> Store::ListBuilds(const ListFilter& filter) {
  // States as a bit set keep the SQL text fixed, so one cached statement
  // serves every filter.
  int64_t state_mask = 0;
  for (v1::BuildState state : filter.states) {
    if (!v1::BuildState_IsValid(state)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown build state ", static_cast<int>(state)));
    }
    state_mask |= int64_t{1} << state;
  }
  int page_size = filter.page_size == 0 ? kDefaultPageSize
                                        : std::clamp(filter.page_size, 1, kMaxPageSize);
  int64_t before = std::numeric_limits<int64_t>::max();
  if (!filter.page_token.empty()) {
    SF_ASSIGN_OR_RETURN(before, ParsePageToken(filter.page_token));
  }

  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(
      std::vector<BuildRecord> found,
      QueryBuilds(*stmts_,
                  "SELECT " SF_BUILD_COLUMNS " FROM builds WHERE seq < ?1"
                  " AND (?2 = 0 OR ((?2 >> state) & 1) = 1)"
                  " AND (?3 = '' OR owner = ?3)"
                  " AND (?4 = '' OR substr(version, 1, length(?4)) = ?4)"
                  " ORDER BY seq DESC LIMIT ?5",
                  "list builds", [&](Statement& s) {
                    s.BindInt(1, before)
                        .BindInt(2, state_mask)
                        .BindText(3, filter.owner)
                        .BindText(4, filter.version_prefix)
                        .BindInt(5, page_size + 1);
                  }));
  ListResult result;
  if (static_cast<int>(found.size()) > page_size) {
    found.resize(static_cast<size_t>(page_size));
    result.next_page_token = absl::StrCat(found.back().seq);
  }
  result.builds.reserve(found.size());
  for (BuildRecord& record : found) result.builds.push_back(std::move(record.build));
  return result;
}

absl::StatusOr<std::vector<BuildRecord>> Store::LoadUnfinished() {
  absl::MutexLock lock(&mu_);
  return QueryBuilds(*stmts_,
                     "SELECT " SF_BUILD_COLUMNS
                     " FROM builds WHERE state IN (?1, ?2) ORDER BY seq",
                     "load unfinished builds", [](Statement& s) {
                       s.BindInt(1, v1::BUILD_STATE_QUEUED).BindInt(2, v1::BUILD_STATE_RUNNING);
                     });
}

absl::StatusOr<std::vector<BuildEventRecord>> Store::ListEvents(absl::string_view build_id) {
  absl::MutexLock lock(&mu_);
  std::vector<BuildEventRecord> events;
  {
    SF_ASSIGN_OR_RETURN(
        Statement stmt,
        stmts_->Get("SELECT time, state, message FROM build_events WHERE build_id = ?1"
                    " ORDER BY rowid"));
    stmt.BindText(1, build_id);
    while (true) {
      absl::StatusOr<bool> row = stmt.Step();
      if (!row.ok()) return Annotate(row.status(), "list build events");
      if (!*row) break;
      BuildEventRecord event;
      event.time = absl::FromUnixMicros(stmt.Int(0));
      event.state = static_cast<v1::BuildState>(stmt.Int(1));
      event.message = stmt.Text(2);
      events.push_back(std::move(event));
    }
  }
  if (events.empty()) {
    SF_ASSIGN_OR_RETURN(bool exists, BuildExists(*stmts_, build_id));
    if (!exists) return absl::NotFoundError(absl::StrCat("no build ", build_id));
  }
  return events;
}

}  // namespace sfactory::store
