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

namespace sfactory::store {
namespace {

// 'SFac' in PRAGMA application_id marks the file as ours.
constexpr int32_t kApplicationId = 0x53466163;
constexpr int kBusyTimeoutMs = 5000;
constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;

// kMigrations[i] takes the schema from version i to i + 1. Append only;
// never edit a migration that has shipped. Times are unix microseconds.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE builds (
  -- AUTOINCREMENT: a seq is never handed out twice, even after deletes.
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  digest TEXT NOT NULL,
  state INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  owner TEXT NOT NULL,
  request_id TEXT NOT NULL,
  version TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  verify INTEGER NOT NULL,
  keep_instance INTEGER NOT NULL,
  blob BLOB NOT NULL  -- serialized sfactory.v1.Build; the columns are copies
);
CREATE UNIQUE INDEX builds_owner_request ON builds(owner, request_id)
  WHERE request_id != '';
CREATE INDEX builds_digest_state ON builds(digest, state);
CREATE INDEX builds_state ON builds(state);

CREATE TABLE build_events (
  build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  time INTEGER NOT NULL,
  state INTEGER NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX build_events_build ON build_events(build_id);

CREATE TABLE attempts (
  build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  result TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (build_id, attempt)
);

CREATE TABLE artifacts (
  build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  kind TEXT NOT NULL
);
CREATE INDEX artifacts_build ON artifacts(build_id);
CREATE INDEX artifacts_sha256 ON artifacts(sha256);

CREATE TABLE sources (
  name TEXT PRIMARY KEY,
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  added_at INTEGER NOT NULL
);
CREATE INDEX sources_sha256 ON sources(sha256);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

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

int64_t ToMicros(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000000 + ts.nanos() / 1000;
}

google::protobuf::Timestamp TimestampFromMicros(int64_t micros) {
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(rest * 1000));
  return ts;
}

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

absl::StatusOr<int64_t> ReadPragmaInt(StatementCache& cache, const char* sql) {
  SF_ASSIGN_OR_RETURN(Statement stmt, cache.Get(sql));
  SF_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::InternalError(absl::StrCat(sql, " returned nothing"));
  return stmt.Int(0);
}

// Exec for statements whose text is built here from constants (PRAGMA takes
// no bound parameters) or that hold several statements (migrations).
absl::Status ExecScript(sqlite3* db, const std::string& sql, absl::string_view what) {
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db, rc, what);
  return absl::OkStatus();
}

absl::Status NewerSchemaError(const std::string& name, int64_t version) {
  return absl::FailedPreconditionError(absl::StrCat(
      name, " has schema version ", version, " but this sfactoryd knows only up to ",
      kSchemaVersion, "; run a newer sfactoryd, or move the file aside to start empty"));
}

// Refuses files that are not ours, sets the connection up and brings the
// schema to kSchemaVersion. Reads before it writes, so a foreign file is
// left untouched.
absl::Status Prepare(StatementCache& cache, const std::string& name) {
  int64_t app_id = 0;
  int64_t version = 0;
  int64_t objects = 0;
  absl::Status read = [&]() -> absl::Status {
    SF_ASSIGN_OR_RETURN(app_id, ReadPragmaInt(cache, "PRAGMA application_id"));
    SF_ASSIGN_OR_RETURN(version, ReadPragmaInt(cache, "PRAGMA user_version"));
    SF_ASSIGN_OR_RETURN(objects, ReadPragmaInt(cache, "SELECT count(*) FROM sqlite_master"));
    return absl::OkStatus();
  }();
  auto not_ours = [&](absl::string_view why) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, " is not an sfactory database (", why,
                     "); move it aside or configure another database path"));
  };
  if (read.code() == absl::StatusCode::kFailedPrecondition) return not_ours(read.message());
  if (read.code() == absl::StatusCode::kDataLoss) {
    return absl::DataLossError(absl::StrCat(name, " is corrupt (", read.message(),
                                            "); restore it from a backup or move it aside"));
  }
  SF_RETURN_IF_ERROR(Annotate(read, absl::StrCat("open ", name)));
  bool blank = app_id == 0 && version == 0 && objects == 0;
  if (!blank && app_id != kApplicationId) return not_ours("it belongs to some other program");
  if (version > kSchemaVersion) return NewerSchemaError(name, version);

  {
    // journal_mode answers with the mode in effect, which stays the old one
    // when WAL is impossible (e.g. some network filesystems).
    SF_ASSIGN_OR_RETURN(Statement stmt, cache.Get("PRAGMA journal_mode = WAL"));
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return Annotate(row.status(), absl::StrCat("set WAL mode on ", name));
    std::string mode = *row ? absl::AsciiStrToLower(stmt.Text(0)) : "";
    if (mode != "wal") {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot use WAL mode for ", name, " (journal mode stays \"", mode,
          "\"); put the database on a local filesystem"));
    }
  }
  SF_RETURN_IF_ERROR(ExecScript(cache.db(), "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON",
                                absl::StrCat("configure ", name)));

  if (version == kSchemaVersion) return absl::OkStatus();

  SF_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(cache));
  // Another process may have migrated between our read and our lock.
  SF_ASSIGN_OR_RETURN(version, ReadPragmaInt(cache, "PRAGMA user_version"));
  if (version > kSchemaVersion) return NewerSchemaError(name, version);
  for (int64_t v = version; v < kSchemaVersion; ++v) {
    SF_RETURN_IF_ERROR(ExecScript(cache.db(), kMigrations[v],
                                  absl::StrCat("migrate ", name, " to schema version ", v + 1)));
  }
  SF_RETURN_IF_ERROR(ExecScript(cache.db(),
                                absl::StrCat("PRAGMA application_id = ", kApplicationId,
                                             "; PRAGMA user_version = ", kSchemaVersion),
                                absl::StrCat("stamp ", name)));
  return Annotate(txn.Commit(), absl::StrCat("migrate ", name));
}

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

}  // namespace

Store::Store(sqlite3* db, std::unique_ptr<StatementCache> stmts)
    : db_(db), stmts_(std::move(stmts)) {}

Store::~Store() {
  absl::MutexLock lock(&mu_);
  stmts_.reset();
  sqlite3_close_v2(db_);
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::filesystem::path& path,
                                                   const OpenOptions& options) {
  const std::string name = path.string();
  if (!options.vfs.empty() && sqlite3_vfs_find(options.vfs.c_str()) == nullptr) {
    return absl::NotFoundError(absl::StrCat("open ", name, ": no SQLite VFS named ", options.vfs));
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           options.vfs.empty() ? nullptr : options.vfs.c_str());
  // Declared before `stmts` so that statements are finalized first.
  std::unique_ptr<sqlite3, CloseDb> db(raw);
  if (rc != SQLITE_OK) return SqliteError(raw, rc, absl::StrCat("open ", name));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  auto stmts = std::make_unique<StatementCache>(raw);
  SF_RETURN_IF_ERROR(Prepare(*stmts, name));
  return std::unique_ptr<Store>(new Store(db.release(), std::move(stmts)));
}

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

absl::Status Store::UpsertSource(const v1::Source& source) {
  if (source.name().empty()) return absl::InvalidArgumentError("upsert source: empty name");
  int64_t added_at =
      source.has_added_at() ? ToMicros(source.added_at()) : absl::ToUnixMicros(absl::Now());
  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(
      Statement stmt,
      stmts_->Get("INSERT INTO sources (name, sha256, size, added_at) VALUES (?1, ?2, ?3, ?4)"
                  " ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256,"
                  " size = excluded.size, added_at = excluded.added_at"));
  stmt.BindText(1, source.name())
      .BindText(2, source.sha256())
      .BindInt(3, static_cast<int64_t>(source.size()))
      .BindInt(4, added_at);
  return Annotate(stmt.Run(), absl::StrCat("upsert source ", source.name()));
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
