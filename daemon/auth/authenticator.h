// Turns a call's ServerContext into a Caller, once per call, in one place:
// - "fd:N" peers came through the UnixListener: the kernel's uid, mapped to
//   the user name; whatever the client sends about itself is ignored;
// - TLS calls: "authorization: Bearer <token>" checked against the store
//   (hash, constant-time compare, expiry), else a client certificate that
//   TLS verified against the configured client CA (its CN is the name);
// - anything else is Unauthenticated, with what to send instead.
// Admin is decided here (Admins for people, the token's flag for tokens).
//
// Thread-safety: Identify may be called from any thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "daemon/auth/admins.h"
#include "daemon/auth/caller.h"
#include "daemon/auth/unix_listener.h"
#include "daemon/store/store.h"
#include "grpcpp/server_context.h"

namespace sfactory::auth {

class Authenticator {
 public:
  // `unix_listeners` may be empty (no unix socket). Pointers must outlive this.
  Authenticator(std::vector<const UnixListener*> unix_listeners, store::Store* store,
                const Admins* admins, Clock* clock)
      : unix_(std::move(unix_listeners)), store_(store), admins_(admins), clock_(clock) {}

  absl::StatusOr<Caller> Identify(const grpc::ServerContext& ctx);

  // For the token path alone (tests, benchmarks).
  absl::StatusOr<Caller> IdentifyToken(absl::string_view token_text);

  const Admins& admins() const { return *admins_; }

 private:
  const std::vector<const UnixListener*> unix_;
  store::Store* const store_;
  const Admins* const admins_;
  Clock* const clock_;
  // last_used_at is written at most once a minute per token.
  absl::Mutex mu_;
  std::map<std::string, absl::Time> touched_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sfactory::auth
