#include "client/connection.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

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

std::chrono::system_clock::time_point Deadline(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

}  // namespace

absl::Status UnreachableError(absl::string_view address, absl::string_view detail) {
  return absl::UnavailableError(absl::StrCat(
      "cannot reach sfactoryd at ", address, ": ", detail,
      "\n  Is the daemon running? Start it with `sudo systemctl start sfactoryd`"
      " (or run `sfactoryd --config FILE`),"
      "\n  or point the client at another daemon with --address or SFACTORY_ADDRESS."));
}

void PrepareContext(grpc::ClientContext& context, absl::Duration timeout) {
  if (timeout != absl::InfiniteDuration()) context.set_deadline(Deadline(timeout));
  static const std::string user = [] {
    struct passwd* pw = ::getpwuid(::geteuid());
    return pw ? std::string(pw->pw_name) : absl::StrCat("uid-", ::geteuid());
  }();
  context.AddMetadata("sfactory-user", user);
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& address,
                                                             const ConnectOptions& options) {
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
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  if (channel == nullptr) return UnreachableError(address, "cannot create a channel");
  Stubs stubs{v1::BuildService::NewStub(channel), v1::ServerInfoService::NewStub(channel),
              v1::SourceService::NewStub(channel), v1::ImageService::NewStub(channel),
              v1::CacheService::NewStub(channel)};
  auto connection = std::make_unique<Connection>(address, channel, std::move(stubs), options);
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
  }
  return std::string(what);
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
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return UnreachableError(address_, status.error_message());
  }
  return FromGrpcStatus(status);
}

}  // namespace sfactory::client
