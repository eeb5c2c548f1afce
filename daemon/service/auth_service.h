// sfactory.v1.AuthService: who the caller is (everyone), and the bearer
// tokens CI runners and workstations use over TLS (admins only).
#pragma once

#include "common/clock.h"
#include "daemon/auth/authenticator.h"
#include "daemon/store/store.h"
#include "sfactory/v1/sfactory.grpc.pb.h"

namespace sfactory::service {

class AuthServiceImpl final : public v1::AuthService::Service {
 public:
  // Both outlive the service.
  AuthServiceImpl(auth::Authenticator* auth, store::Store* store, Clock* clock)
      : auth_(auth), store_(store), clock_(clock) {}

  grpc::Status WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest* req,
                      v1::WhoAmIResponse* resp) override;
  // The secret is in the response only; the store keeps its hash.
  // ALREADY_EXISTS when the name is taken (revoke it first).
  grpc::Status CreateToken(grpc::ServerContext* ctx, const v1::CreateTokenRequest* req,
                           v1::CreateTokenResponse* resp) override;
  grpc::Status ListTokens(grpc::ServerContext* ctx, const v1::ListTokensRequest* req,
                          v1::ListTokensResponse* resp) override;
  // Effective at once: the next call with the token is UNAUTHENTICATED.
  grpc::Status RevokeToken(grpc::ServerContext* ctx, const v1::RevokeTokenRequest* req,
                           v1::Token* resp) override;

 private:
  auth::Authenticator* auth_;
  store::Store* store_;
  Clock* clock_;
};

}  // namespace sfactory::service
