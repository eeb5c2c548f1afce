// The client's connection to sfactoryd: one place that builds the channel,
// waits for it with a deadline, retries unary calls and explains an
// unreachable daemon. Commands use the generated StubInterfaces through it, so
// a test may hand in its own stubs.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/credentials.h"
#include "client/retry.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "sfactory/v1/sfactory.grpc.pb.h"

namespace sfactory::client {

struct ConnectOptions {
  // How long the first connection may take before the daemon counts as
  // unreachable (exit code 3).
  absl::Duration connect_timeout = absl::Seconds(5);
  // Deadline of an ordinary unary call.
  absl::Duration rpc_timeout = absl::Seconds(60);
  // How long a broken stream (daemon restart) waits for the daemon to return.
  absl::Duration reconnect_timeout = absl::Seconds(120);
  RetryPolicy retry;
};

// "cannot reach sfactoryd at ADDRESS: DETAIL" plus how to start the daemon
// and how to pick another address. Code UNAVAILABLE.
absl::Status UnreachableError(absl::string_view address, absl::string_view detail);

class Connection {
 public:
  struct Stubs {
    std::unique_ptr<v1::BuildService::StubInterface> builds;
    std::unique_ptr<v1::ServerInfoService::StubInterface> info;
    std::unique_ptr<v1::SourceService::StubInterface> sources;
    std::unique_ptr<v1::ImageService::StubInterface> images;
    std::unique_ptr<v1::CacheService::StubInterface> caches;
    std::unique_ptr<v1::AuthService::StubInterface> auth;
  };

  // Creates the channel for security.address (a gRPC target: "unix:/path",
  // "host:port", ...) with its credentials (see credentials.h) and waits
  // until it is connected: UNAVAILABLE (see UnreachableError) when it is not
  // within options.connect_timeout or after options.retry.attempts failed
  // connection attempts.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const ChannelSecurity& security,
                                                          const ConnectOptions& options);

  // For tests: stubs of any kind; `channel` may be null (then WaitReachable
  // returns OK at once).
  Connection(std::string address, std::shared_ptr<grpc::Channel> channel, Stubs stubs,
             ConnectOptions options);

  const std::string& address() const { return address_; }
  const ConnectOptions& options() const { return options_; }
  v1::BuildService::StubInterface& builds() { return *stubs_.builds; }
  v1::ServerInfoService::StubInterface& info() { return *stubs_.info; }
  v1::SourceService::StubInterface& sources() { return *stubs_.sources; }
  v1::ImageService::StubInterface& images() { return *stubs_.images; }
  v1::CacheService::StubInterface& caches() { return *stubs_.caches; }
  v1::AuthService::StubInterface& auth() { return *stubs_.auth; }

  // Runs `call` with a fresh context (deadline `timeout`, or none when
  // infinite) per try, retrying UNAVAILABLE per options().retry. Errors come
  // back through Explain().
  absl::Status Unary(const std::function<grpc::Status(grpc::ClientContext&)>& call,
                     absl::Duration timeout);
  absl::Status Unary(const std::function<grpc::Status(grpc::ClientContext&)>& call) {
    return Unary(call, options_.rpc_timeout);
  }

  // Waits until the channel is connected, for at most `timeout`, giving up
  // early after `max_failures` failed attempts (0 = no limit).
  absl::Status WaitReachable(absl::Duration timeout, int max_failures);

  // UNAVAILABLE becomes UnreachableError for this address; UNAUTHENTICATED
  // says how to give a token; RESOURCE_EXHAUSTED from gRPC's own message
  // size limits becomes INTERNAL (it is no full disk, exit 8). Anything else
  // is returned as the daemon said it.
  absl::Status Explain(const grpc::Status& status) const;

 private:
  // `what`, plus a hint when the address names a unix socket that is missing.
  std::string FailureDetail(absl::string_view what) const;

  std::string address_;
  std::string token_origin_;  // where the token sent came from; empty: none
  std::shared_ptr<grpc::Channel> channel_;
  Stubs stubs_;
  ConnectOptions options_;
};

// Every call's context goes through here: sets a deadline `timeout` from now
// unless it is infinite. It also sends the login name as `sfactory-user`
// metadata, which the daemon ignores: it knows the caller from the socket's
// peer uid, the token or the client certificate.
void PrepareContext(grpc::ClientContext& context, absl::Duration timeout);

}  // namespace sfactory::client
