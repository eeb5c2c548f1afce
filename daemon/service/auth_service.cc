#include "daemon/service/auth_service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/echo.h"
#include "common/timestamps.h"
#include "daemon/auth/token.h"
#include "daemon/service/calls.h"

namespace sfactory::service {
namespace {

// Token and user names: what a CI system or a login can be called.
bool IsTokenName(absl::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  if (!absl::ascii_isalnum(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

v1::Token ToProto(const store::TokenRecord& r) {
  v1::Token t;
  t.set_name(r.name);
  t.set_user(r.user);
  t.set_admin(r.admin);
  t.set_created_by(r.created_by);
  *t.mutable_created_at() = ToTimestamp(r.created_at);
  if (r.last_used_at) *t.mutable_last_used_at() = ToTimestamp(*r.last_used_at);
  if (r.expires_at) *t.mutable_expires_at() = ToTimestamp(*r.expires_at);
  t.set_id(r.id);
  return t;
}

const char* ViaName(auth::Via via) {
  switch (via) {
    case auth::Via::kUnixSocket: return "unix-socket";
    case auth::Via::kToken: return "token";
    case auth::Via::kCertificate: return "certificate";
  }
  return "unknown";
}

}  // namespace

grpc::Status AuthServiceImpl::WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest*,
                                     v1::WhoAmIResponse* resp) {
  SF_CALLER_OR_RETURN(caller, *auth_, *ctx);
  resp->set_name(caller.name);
  resp->set_admin(caller.admin);
  resp->set_via(ViaName(caller.via));
  if (caller.uid) resp->set_uid(*caller.uid);
  resp->set_token(caller.token_name);
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::CreateToken(grpc::ServerContext* ctx,
                                          const v1::CreateTokenRequest* req,
                                          v1::CreateTokenResponse* resp) {
  SF_CALLER_OR_RETURN(caller, *auth_, *ctx);
  if (absl::Status s = auth_->admins().Require(caller, "create tokens"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  const std::string user = req->user().empty() ? req->name() : req->user();
  if (!IsTokenName(req->name()) || !IsTokenName(user)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("token and user names are 1 to 64 letters, digits, '.', '_' "
                                     "or '-', starting with a letter or digit; got ",
                                     EchoInput(req->name()), " and ", EchoInput(user)));
  }
  if (req->expires_in_seconds() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "expires_in_seconds must be 0 (never) or positive");
  }
  absl::StatusOr<auth::NewToken> fresh = auth::GenerateToken();
  if (!fresh.ok()) return Reply(fresh.status(), "CreateToken");
  store::TokenRecord rec;
  rec.id = fresh->id;
  rec.name = req->name();
  rec.user = user;
  rec.admin = req->admin();
  rec.created_by = caller.name;
  rec.secret_sha256 = fresh->secret_sha256;
  rec.created_at = clock_->Now();
  if (req->expires_in_seconds() > 0) {
    rec.expires_at = rec.created_at + absl::Seconds(req->expires_in_seconds());
  }
  if (absl::Status s = store_->InsertToken(rec); !s.ok()) {
    if (absl::IsAlreadyExists(s)) {
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                          absl::StrCat("a token named ", req->name(),
                                       " exists; revoke it first (sfactory tokens revoke ",
                                       req->name(), ")"));
    }
    return Reply(s, "CreateToken");
  }
  spdlog::info("token {} (id {}) created by {}: acts as {}{}", rec.name, rec.id, caller.Describe(),
               rec.user, rec.admin ? ", admin" : "");
  *resp->mutable_token() = ToProto(rec);
  resp->set_secret(fresh->text);
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::ListTokens(grpc::ServerContext* ctx, const v1::ListTokensRequest*,
                                         v1::ListTokensResponse* resp) {
  SF_CALLER_OR_RETURN(caller, *auth_, *ctx);
  if (absl::Status s = auth_->admins().Require(caller, "list tokens"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<std::vector<store::TokenRecord>> tokens = store_->ListTokens();
  if (!tokens.ok()) return Reply(tokens.status(), "ListTokens");
  for (const auto& t : *tokens) *resp->add_tokens() = ToProto(t);
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::RevokeToken(grpc::ServerContext* ctx,
                                          const v1::RevokeTokenRequest* req, v1::Token* resp) {
  SF_CALLER_OR_RETURN(caller, *auth_, *ctx);
  if (absl::Status s = auth_->admins().Require(caller, "revoke tokens"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<store::TokenRecord> gone = store_->DeleteToken(req->name());
  if (!gone.ok()) {
    if (absl::IsNotFound(gone.status())) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("no token named ", EchoInput(req->name()),
                                       " (sfactory tokens list)"));
    }
    return Reply(gone.status(), "RevokeToken");
  }
  spdlog::info("token {} (id {}) revoked by {}", gone->name, gone->id, caller.Describe());
  *resp = ToProto(*gone);
  return grpc::Status::OK;
}

}  // namespace sfactory::service
