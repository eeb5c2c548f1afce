#include "daemon/store/sqlite.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sfactory::store {

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what) {
  // The connection's message is about the last failed call, which is the
  // one that returned `rc` as long as callers convert errors at once.
  const char* detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = what.empty() ? std::string(detail) : absl::StrCat(what, ": ", detail);
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(absl::StrCat(message, " (disk full)"));
    case SQLITE_NOMEM:
      return absl::ResourceExhaustedError(message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    case SQLITE_CORRUPT:
      return absl::DataLossError(message);
    case SQLITE_NOTADB:
      return absl::FailedPreconditionError(message);
    case SQLITE_CONSTRAINT:
      switch (rc) {
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY:
          return absl::AlreadyExistsError(message);
        case SQLITE_CONSTRAINT_FOREIGNKEY:
          return absl::NotFoundError(message);
        default:
          return absl::InvalidArgumentError(message);
      }
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR: {
      int err = db != nullptr ? sqlite3_system_errno(db) : 0;
      if (err != 0) return ErrnoStatus(err, message);
      return absl::InternalError(message);
    }
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

Statement::Statement(sqlite3* db, sqlite3_stmt* stmt, bool* in_use)
    : db_(db), stmt_(stmt), in_use_(in_use) {
  *in_use_ = true;
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      in_use_(std::exchange(other.in_use_, nullptr)),
      bind_status_(std::move(other.bind_status_)) {}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  *in_use_ = false;
}

void Statement::NoteBind(int rc, int index) {
  if (rc != SQLITE_OK && bind_status_.ok()) {
    bind_status_ = SqliteError(db_, rc, absl::StrCat("bind parameter ", index));
  }
}

Statement& Statement::BindInt(int index, int64_t value) {
  NoteBind(sqlite3_bind_int64(stmt_, index, value), index);
  return *this;
}

Statement& Statement::BindText(int index, absl::string_view value) {
  // SQLITE_TRANSIENT: SQLite copies, so callers may pass temporaries.
  NoteBind(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8),
           index);
  return *this;
}

Statement& Statement::BindBlob(int index, absl::string_view value) {
  NoteBind(sqlite3_bind_blob64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT),
           index);
  return *this;
}

Statement& Statement::BindNull(int index) {
  NoteBind(sqlite3_bind_null(stmt_, index), index);
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  if (!bind_status_.ok()) return bind_status_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_, rc, "");
}

absl::Status Statement::Run() {
  absl::StatusOr<bool> row = Step();
  if (!row.ok()) return row.status();
  if (*row) return absl::InternalError("statement returned a row where none was expected");
  return absl::OkStatus();
}

int64_t Statement::Changes() const { return sqlite3_changes64(db_); }

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

absl::string_view Statement::Blob(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  if (data == nullptr) return {};
  return absl::string_view(static_cast<const char*>(data),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

StatementCache::~StatementCache() {
  for (auto& [sql, entry] : entries_) sqlite3_finalize(entry->stmt);
}

absl::StatusOr<Statement> StatementCache::Get(const std::string& sql) {
  auto it = entries_.find(sql);
  if (it == entries_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return SqliteError(db_, rc, absl::StrCat("prepare \"", sql, "\""));
    }
    auto entry = std::make_unique<Entry>();
    entry->stmt = stmt;
    it = entries_.emplace(sql, std::move(entry)).first;
  }
  Entry& entry = *it->second;
  if (entry.in_use) {
    return absl::InternalError(absl::StrCat("statement already in use: ", sql));
  }
  return Statement(db_, entry.stmt, &entry.in_use);
}

absl::Status StatementCache::Exec(const std::string& sql) {
  SF_ASSIGN_OR_RETURN(Statement stmt, Get(sql));
  return Annotate(stmt.Run(), sql);
}

absl::StatusOr<Transaction> Transaction::Begin(StatementCache& cache) {
  SF_RETURN_IF_ERROR(cache.Exec("BEGIN IMMEDIATE"));
  return Transaction(&cache);
}

Transaction::Transaction(Transaction&& other) noexcept
    : cache_(other.cache_), open_(std::exchange(other.open_, false)) {}

Transaction::~Transaction() {
  // A failed statement may already have rolled the transaction back
  // (e.g. SQLITE_FULL); autocommit mode tells.
  if (open_ && !sqlite3_get_autocommit(cache_->db())) {
    (void)cache_->Exec("ROLLBACK");
  }
}

absl::Status Transaction::Commit() {
  SF_RETURN_IF_ERROR(cache_->Exec("COMMIT"));
  open_ = false;
  return absl::OkStatus();
}

}  // namespace sfactory::store
