// What every RPC handler starts with: who is calling (auth::Authenticator,
// never what the client says about itself), and one way to turn a Status
// into the reply.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "daemon/auth/authenticator.h"
#include "grpcpp/server_context.h"

namespace sfactory::service {

// Logs internal failures at the RPC boundary (client errors are not logged)
// and maps `s` to the gRPC status.
inline grpc::Status Reply(const absl::Status& s, absl::string_view rpc) {
  if (!s.ok() && (absl::IsInternal(s) || absl::IsDataLoss(s) || absl::IsUnknown(s))) {
    spdlog::error("{}: {}", rpc, s.message());
  }
  return ToGrpcStatus(s);
}

}  // namespace sfactory::service

// Declares `const auth::Caller& var` for the call in `ctx`, or returns the
// UNAUTHENTICATED status from the enclosing handler.
#define SF_CALLER_OR_RETURN(var, authenticator, ctx)                           \
  absl::StatusOr<::sfactory::auth::Caller> var##_or_ = (authenticator).Identify(ctx); \
  if (!var##_or_.ok()) return ::sfactory::ToGrpcStatus(var##_or_.status());    \
  const ::sfactory::auth::Caller& var = *var##_or_

// As SF_CALLER_OR_RETURN, for handlers that only need the caller to be known.
#define SF_AUTHENTICATED_OR_RETURN(authenticator, ctx)                                 \
  do {                                                                                 \
    absl::StatusOr<::sfactory::auth::Caller> sf_caller_ = (authenticator).Identify(ctx); \
    if (!sf_caller_.ok()) return ::sfactory::ToGrpcStatus(sf_caller_.status());        \
  } while (0)
