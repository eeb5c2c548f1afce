// API tokens (the tokens table). The secret never reaches the database: only
// its sha256, which the authenticator compares in constant time.
#include <sqlite3.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "daemon/store/sqlite.h"
#include "daemon/store/store.h"

namespace sfactory::store {
namespace {

#define SF_TOKEN_COLUMNS \
  "id, name, user, admin, created_by, secret_sha256, created_at, last_used_at, expires_at"

std::optional<absl::Time> OptionalTime(const Statement& stmt, int column) {
  if (stmt.IsNull(column)) return std::nullopt;
  return absl::FromUnixMicros(stmt.Int(column));
}

TokenRecord ReadToken(const Statement& stmt) {
  TokenRecord t;
  t.id = stmt.Text(0);
  t.name = stmt.Text(1);
  t.user = stmt.Text(2);
  t.admin = stmt.Int(3) != 0;
  t.created_by = stmt.Text(4);
  t.secret_sha256 = stmt.Text(5);
  t.created_at = absl::FromUnixMicros(stmt.Int(6));
  t.last_used_at = OptionalTime(stmt, 7);
  t.expires_at = OptionalTime(stmt, 8);
  return t;
}

absl::StatusOr<std::optional<TokenRecord>> QueryOneToken(StatementCache& cache, const char* sql,
                                                         absl::string_view key) {
  SF_ASSIGN_OR_RETURN(Statement stmt, cache.Get(sql));
  stmt.BindText(1, key);
  absl::StatusOr<bool> row = stmt.Step();
  if (!row.ok()) return Annotate(row.status(), "find token");
  if (!*row) return std::nullopt;
  return ReadToken(stmt);
}

}  // namespace

absl::Status Store::InsertToken(const TokenRecord& token) {
  if (token.id.empty() || token.name.empty() || token.secret_sha256.empty()) {
    return absl::InvalidArgumentError("insert token: empty id, name or secret digest");
  }
  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(Statement stmt,
                      stmts_->Get("INSERT INTO tokens (" SF_TOKEN_COLUMNS
                                  ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
  stmt.BindText(1, token.id)
      .BindText(2, token.name)
      .BindText(3, token.user)
      .BindInt(4, token.admin ? 1 : 0)
      .BindText(5, token.created_by)
      .BindText(6, token.secret_sha256)
      .BindInt(7, absl::ToUnixMicros(token.created_at));
  if (token.last_used_at) {
    stmt.BindInt(8, absl::ToUnixMicros(*token.last_used_at));
  } else {
    stmt.BindNull(8);
  }
  if (token.expires_at) {
    stmt.BindInt(9, absl::ToUnixMicros(*token.expires_at));
  } else {
    stmt.BindNull(9);
  }
  absl::Status status = stmt.Run();
  if (absl::IsAlreadyExists(status)) {
    if (absl::StrContains(status.message(), "tokens.name")) {
      return absl::AlreadyExistsError(absl::StrCat(
          "a token named \"", token.name, "\" exists; revoke it first or choose another name"));
    }
    return absl::AlreadyExistsError("token id collision; create the token again");
  }
  return Annotate(status, absl::StrCat("insert token ", token.name));
}

absl::StatusOr<std::optional<TokenRecord>> Store::FindToken(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  return QueryOneToken(*stmts_, "SELECT " SF_TOKEN_COLUMNS " FROM tokens WHERE id = ?1", id);
}

absl::StatusOr<std::vector<TokenRecord>> Store::ListTokens() {
  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(Statement stmt,
                      stmts_->Get("SELECT " SF_TOKEN_COLUMNS " FROM tokens ORDER BY name"));
  std::vector<TokenRecord> tokens;
  while (true) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return Annotate(row.status(), "list tokens");
    if (!*row) break;
    tokens.push_back(ReadToken(stmt));
  }
  return tokens;
}

absl::StatusOr<TokenRecord> Store::DeleteToken(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*stmts_));
  SF_ASSIGN_OR_RETURN(
      std::optional<TokenRecord> found,
      QueryOneToken(*stmts_, "SELECT " SF_TOKEN_COLUMNS " FROM tokens WHERE name = ?1", name));
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat("no token named \"", name, "\" (sfactory tokens list shows them)"));
  }
  {
    SF_ASSIGN_OR_RETURN(Statement del, stmts_->Get("DELETE FROM tokens WHERE id = ?1"));
    del.BindText(1, found->id);
    SF_RETURN_IF_ERROR(Annotate(del.Run(), absl::StrCat("delete token ", name)));
  }
  SF_RETURN_IF_ERROR(Annotate(txn.Commit(), absl::StrCat("delete token ", name)));
  return std::move(*found);
}

absl::Status Store::TouchToken(absl::string_view id, absl::Time at) {
  absl::MutexLock lock(&mu_);
  SF_ASSIGN_OR_RETURN(Statement stmt,
                      stmts_->Get("UPDATE tokens SET last_used_at = ?2 WHERE id = ?1"));
  stmt.BindText(1, id).BindInt(2, absl::ToUnixMicros(at));
  return Annotate(stmt.Run(), "record token use");
}

}  // namespace sfactory::store
