#include "client/connection.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace sfactory::client {
namespace {

// Artifact and log chunks may be up to a few MiB.
constexpr int kMaxReceiveMessageBytes = 32 << 20;

// gRPC itself says RESOURCE_EXHAUSTED when a message or its metadata is
// larger than allowed (e.g. an error message echoing a huge request).
bool IsGrpcSizeLimit(absl::string_view message) {
  return absl::StrContains(message, "larger than max") ||
         absl::StrContains(message, "metadata size exceeds limit");
}

std::chrono::system_clock::time_point Deadline(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

}  // namespace

absl::Status UnreachableError(absl::string_view address, absl::string_view detail) {
  return absl::UnavailableError(absl::StrCat(
      "cannot reach sfactoryd at ", address, ": ", detail,
      "\n  Is the daemon running? Start it with `sudo systemctl start sfactoryd`"
      " (or run `sfactoryd --config FILE`),"
      "\n  or point the client at another daemon with --address, SFACTORY_ADDRESS or the"
      " `address` of the client config file (see `sfactory --help`)."));
}

void PrepareContext(grpc::ClientContext& context, absl::Duration timeout) {
  if (timeout != absl::InfiniteDuration()) context.set_deadline(Deadline(timeout));
  static const std::string user = [] {
    struct passwd* pw = ::getpwuid(::geteuid());
    return pw ? std::string(pw->pw_name) : absl::StrCat("uid-", ::geteuid());
  }();
  context.AddMetadata("sfactory-user", user);
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const ChannelSecurity& security,
                                                             const ConnectOptions& options) {
  const std::string& address = security.address;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  // gRPC's own reconnect backoff follows the client's retry policy, so that a
  // missing daemon is reported after a few quick attempts, not after seconds.
  const int initial_ms = static_cast<int>(absl::ToInt64Milliseconds(options.retry.initial_backoff));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, initial_ms);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, initial_ms);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.retry.max_backoff)));
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(address, MakeChannelCredentials(security), args);
  if (channel == nullptr) return UnreachableError(address, "cannot create a channel");
  Stubs stubs;
  stubs.builds = v1::BuildService::NewStub(channel);
  stubs.info = v1::ServerInfoService::NewStub(channel);
  stubs.sources = v1::SourceService::NewStub(channel);
  stubs.images = v1::ImageService::NewStub(channel);
  stubs.caches = v1::CacheService::NewStub(channel);
  stubs.auth = v1::AuthService::NewStub(channel);
  auto connection = std::make_unique<Connection>(address, channel, std::move(stubs), options);
  connection->token_origin_ = security.token.empty() ? "" : security.token_origin;
  if (absl::Status s = connection->WaitReachable(options.connect_timeout, options.retry.attempts);
      !s.ok()) {
    return s;
  }
  return connection;
}

Connection::Connection(std::string address, std::shared_ptr<grpc::Channel> channel, Stubs stubs,
                       ConnectOptions options)
    : address_(std::move(address)),
      channel_(std::move(channel)),
      stubs_(std::move(stubs)),
      options_(options) {}

absl::Status Connection::WaitReachable(absl::Duration timeout, int max_failures) {
  if (channel_ == nullptr) return absl::OkStatus();
  const absl::Time deadline = absl::Now() + timeout;
  // gRPC keeps a channel in TRANSIENT_FAILURE while it retries in the
  // background, so each backoff period spent there counts as one failure.
  absl::Duration pause = options_.retry.initial_backoff;
  int failures = 0;
  grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_SHUTDOWN) return UnreachableError(address_, "channel shut down");
    absl::Time wake = deadline;
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE) {
      if (max_failures > 0 && ++failures >= max_failures) {
        return UnreachableError(address_, FailureDetail(absl::StrCat(
                                              "connection failed ", failures, " times")));
      }
      wake = std::min(deadline, absl::Now() + pause);
      pause = std::min(pause * 2, options_.retry.max_backoff);
    }
    if (!channel_->WaitForStateChange(state, absl::ToChronoTime(wake)) &&
        absl::Now() >= deadline) {
      return UnreachableError(address_, FailureDetail(absl::StrCat(
                                            "no connection within ", absl::FormatDuration(timeout))));
    }
    state = channel_->GetState(/*try_to_connect=*/true);
  }
  return absl::OkStatus();
}

std::string Connection::FailureDetail(absl::string_view what) const {
  absl::string_view path = address_;
  if (absl::ConsumePrefix(&path, "unix:")) {
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::path(std::string(path)), ec)) {
      return absl::StrCat(what, " (there is no socket at ", path, ")");
    }
    return std::string(what);
  }
  return absl::StrCat(what,
                      " (if the daemon runs there: does its TLS certificate name this host, and"
                      " is its CA trusted? see --ca-file)");
}

absl::Status Connection::Unary(const std::function<grpc::Status(grpc::ClientContext&)>& call,
                               absl::Duration timeout) {
  grpc::Status status = RetryUnavailable(options_.retry, [&] {
    grpc::ClientContext context;
    PrepareContext(context, timeout);
    return call(context);
  });
  return Explain(status);
}

absl::Status Connection::Explain(const grpc::Status& status) const {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return UnreachableError(address_, status.error_message());
    case grpc::StatusCode::UNAUTHENTICATED:
      return absl::UnauthenticatedError(absl::StrCat(
          status.error_message(), "\n  the daemon does not know who you are",
          token_origin_.empty()
              ? ": give a token with --token-file or SFACTORY_TOKEN (or SFACTORY_TOKEN_FILE, or"
                " token_file in the client config)"
              : absl::StrCat(" by the token from ", token_origin_,
                             ": it is unknown, revoked or expired; ask an admin for a new one"),
          "\n  (an admin creates one with `sfactory tokens create NAME`; on the build host the "
          "unix socket needs none)"));
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      if (IsGrpcSizeLimit(status.error_message())) {
        return absl::InternalError(absl::StrCat(
            "a message between the client and the daemon at ", address_,
            " exceeded gRPC's size limits (no disk is full): ", status.error_message()));
      }
      return FromGrpcStatus(status);
    default:
      return FromGrpcStatus(status);
  }
}

}  // namespace sfactory::client
