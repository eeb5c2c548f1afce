// Private to the store: RAII owners over the SQLite C API and the one place
// where SQLite result codes become a Status.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sfactory::store {

// "<what>: <sqlite message>" (just the message when `what` is empty), coded: SQLITE_FULL → ResourceExhausted,
// BUSY/LOCKED → Unavailable, CORRUPT → DataLoss, NOTADB → FailedPrecondition,
// UNIQUE/PRIMARY KEY constraint → AlreadyExists, FOREIGN KEY → NotFound,
// other constraints → InvalidArgument, CANTOPEN/IOERR → by errno, PERM and
// READONLY → PermissionDenied, anything else → Internal.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what);

// A prepared statement borrowed from a StatementCache. Reset and unbound
// when it goes out of scope, so the next user starts clean. Columns and
// parameters are indexed as in SQLite (parameters from 1, columns from 0).
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // A failed bind is reported by the next Step()/Run().
  Statement& BindInt(int index, int64_t value);
  Statement& BindText(int index, absl::string_view value);
  Statement& BindBlob(int index, absl::string_view value);
  Statement& BindNull(int index);

  // True when a row is ready, false when the statement is done. Errors
  // carry SQLite's message only; callers add what they were doing.
  absl::StatusOr<bool> Step();
  // Steps a statement that returns no rows.
  absl::Status Run();
  // Rows changed by the last Run() of an INSERT/UPDATE/DELETE.
  int64_t Changes() const;

  bool IsNull(int column) const;
  int64_t Int(int column) const;
  std::string Text(int column) const;
  // Valid until the next Step() or destruction.
  absl::string_view Blob(int column) const;

 private:
  friend class StatementCache;
  Statement(sqlite3* db, sqlite3_stmt* stmt, bool* in_use);
  void NoteBind(int rc, int index);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  bool* in_use_ = nullptr;
  absl::Status bind_status_;
};

// Prepared statements of one connection, prepared once per SQL text and
// finalized on destruction (before the connection is closed).
class StatementCache {
 public:
  explicit StatementCache(sqlite3* db) : db_(db) {}
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;
  ~StatementCache();

  sqlite3* db() const { return db_; }

  // Internal error when the same SQL is already borrowed and not returned:
  // sharing it would reset the other user's rows.
  absl::StatusOr<Statement> Get(const std::string& sql);

  // Runs one statement that takes no parameters and returns no rows.
  absl::Status Exec(const std::string& sql);

 private:
  struct Entry {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  sqlite3* db_;
  // unique_ptr keeps each Entry's address stable across rehashing.
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
};

// BEGIN IMMEDIATE … COMMIT; rolls back on destruction unless committed.
// IMMEDIATE takes the write lock up front, so a writer never fails halfway
// through because another connection got there first.
class Transaction {
 public:
  static absl::StatusOr<Transaction> Begin(StatementCache& cache);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  absl::Status Commit();

 private:
  explicit Transaction(StatementCache* cache) : cache_(cache) {}
  StatementCache* cache_;
  bool open_ = true;
};

}  // namespace sfactory::store
