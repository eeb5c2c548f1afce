#include "daemon/auth/authenticator.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "common/logging.h"
#include "common/status.h"
#include "daemon/auth/token.h"

namespace sfactory::auth {
namespace {

constexpr absl::Duration kTouchEvery = absl::Minutes(1);

std::string ToString(const grpc::string_ref& s) { return std::string(s.data(), s.size()); }

}  // namespace

absl::StatusOr<Caller> Authenticator::IdentifyToken(absl::string_view token_text) {
  SF_ASSIGN_OR_RETURN(PresentedToken presented, ParseToken(token_text));
  SF_ASSIGN_OR_RETURN(std::optional<store::TokenRecord> rec, store_->FindToken(presented.id));
  if (!rec || !DigestsEqual(rec->secret_sha256, presented.secret_sha256)) {
    spdlog::warn("refused a call with an unknown or revoked token (id {})", presented.id);
    return absl::UnauthenticatedError(
        "unknown or revoked token: ask an admin for a new one (`sfactory tokens create`)");
  }
  absl::Time now = clock_->Now();
  if (rec->expires_at && now >= *rec->expires_at) {
    spdlog::warn("refused a call with the expired token {}", rec->name);
    return absl::UnauthenticatedError(absl::StrCat(
        "the token ", rec->name, " expired at ",
        absl::FormatTime("%Y-%m-%d %H:%M UTC", *rec->expires_at, absl::UTCTimeZone()),
        "; ask an admin for a new one"));
  }
  bool touch;
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = touched_.emplace(rec->id, now);
    touch = inserted || now - it->second >= kTouchEvery;
    if (touch) it->second = now;
  }
  if (touch) {
    if (absl::Status s = store_->TouchToken(rec->id, now); !s.ok()) {
      spdlog::warn("cannot record the use of token {}: {}", rec->name, s.message());
    }
  }
  Caller c;
  c.name = rec->user;
  c.admin = rec->admin;
  c.via = Via::kToken;
  c.token_name = rec->name;
  c.peer = absl::StrCat("token ", rec->name);
  return c;
}

absl::StatusOr<Caller> Authenticator::Identify(const grpc::ServerContext& ctx) {
  const std::string peer = ctx.peer();
  if (absl::StartsWith(peer, "fd:")) {
    absl::StatusOr<UnixPeer> found = absl::UnauthenticatedError("no unix socket is configured");
    for (const UnixListener* l : unix_) {
      found = l->Lookup(peer);
      if (found.ok()) break;
    }
    SF_ASSIGN_OR_RETURN(UnixPeer p, found);
    Caller c;
    c.uid = p.uid;
    c.name = UserName(p.uid);
    c.admin = admins_->IsAdminUser(p.uid);
    c.via = Via::kUnixSocket;
    c.peer = absl::StrCat("uid ", p.uid, ", pid ", p.pid);
    return c;
  }
  const auto& metadata = ctx.client_metadata();
  auto auth = metadata.find("authorization");
  if (auth != metadata.end()) {
    const std::string header = ToString(auth->second);  // the view below points into it
    absl::StatusOr<absl::string_view> token = BearerToken(header);
    if (!token.ok()) {
      return absl::UnauthenticatedError(
          "the authorization metadata is not \"Bearer <token>\"");
    }
    absl::StatusOr<Caller> c = IdentifyToken(*token);
    if (c.ok()) c->peer = absl::StrCat(c->peer, " from ", peer);
    return c;
  }
  std::shared_ptr<const grpc::AuthContext> auth_context = ctx.auth_context();
  if (auth_context && auth_context->IsPeerAuthenticated()) {
    std::vector<grpc::string_ref> cn = auth_context->FindPropertyValues("x509_common_name");
    if (!cn.empty() && !cn.front().empty()) {
      Caller c;
      c.name = ToString(cn.front());
      c.admin = admins_->IsAdminName(c.name);
      c.via = Via::kCertificate;
      c.peer = absl::StrCat("certificate from ", peer);
      return c;
    }
  }
  return absl::UnauthenticatedError(
      "no credentials: over TCP, send a bearer token (sfactory --token-file FILE, "
      "SFACTORY_TOKEN_FILE or SFACTORY_TOKEN) or a client certificate the daemon's "
      "tls.client_ca_file signed");
}

}  // namespace sfactory::auth
