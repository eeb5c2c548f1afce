// Opening the database: refusing foreign files, WAL setup and the schema
// migrations. The tables are used by builds.cc, sources.cc and tokens.cc.
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

namespace {

// 'SFac' in PRAGMA application_id marks the file as ours.
constexpr int32_t kApplicationId = 0x53466163;
constexpr int kBusyTimeoutMs = 5000;

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
    // 2: API tokens for TLS callers (issue: team service). Only the sha256 of
    // the secret is kept; `name` is what admins revoke by.
    R"sql(
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  user TEXT NOT NULL,
  admin INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  expires_at INTEGER
);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

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

}  // namespace sfactory::store
