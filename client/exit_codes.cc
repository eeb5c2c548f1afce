#include "client/exit_codes.h"

#include "absl/types/optional.h"
#include <string>

#include "absl/strings/cord.h"

namespace sfactory::client {
namespace {

// Statuses for build outcomes carry the exit code as a payload, because no
// status code means "the build you waited for failed".
constexpr absl::string_view kExitCodePayload = "type.sfactory.dev/sfactory.client.ExitCode";

constexpr ExitCodeInfo kTable[] = {
    {ExitCode::kOk, "success"},
    {ExitCode::kBuildFailed, "the build failed"},
    {ExitCode::kBadInput,
     "bad input: usage or client config error, or the daemon rejected the request "
     "(invalid argument, failed precondition, already exists)"},
    {ExitCode::kUnreachable, "the daemon is unreachable (or did not answer in time)"},
    {ExitCode::kBuildCancelled, "the build was cancelled"},
    {ExitCode::kNotFound, "not found (build, artifact, image or local file)"},
    {ExitCode::kPermissionDenied,
     "permission denied (not the owner, not an admin), or not authenticated (no token, or "
     "an unknown, revoked or expired one)"},
    {ExitCode::kIntegrity, "artifact integrity: size or sha256 mismatch (nothing kept)"},
    {ExitCode::kNoSpace, "out of disk space (the daemon's or this machine's) or another resource; free it and retry"},
    {ExitCode::kInternal, "internal or unexpected error"},
    {ExitCode::kInterrupted, "Ctrl-C while following a build: the build keeps running"},
};

absl::Status WithExitCode(absl::Status status, ExitCode code) {
  status.SetPayload(kExitCodePayload, absl::Cord(std::to_string(static_cast<int>(code))));
  return status;
}

}  // namespace

absl::Span<const ExitCodeInfo> ExitCodeTable() { return kTable; }

ExitCode ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return ExitCode::kOk;
  if (absl::optional<absl::Cord> payload = status.GetPayload(kExitCodePayload)) {
    std::string text(*payload);
    for (const ExitCodeInfo& info : kTable) {
      if (std::to_string(static_cast<int>(info.code)) == text) return info.code;
    }
  }
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
      return ExitCode::kBadInput;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return ExitCode::kUnreachable;
    case absl::StatusCode::kNotFound:
      return ExitCode::kNotFound;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return ExitCode::kPermissionDenied;
    case absl::StatusCode::kDataLoss:
      return ExitCode::kIntegrity;
    case absl::StatusCode::kResourceExhausted:
      return ExitCode::kNoSpace;
    default:
      return ExitCode::kInternal;
  }
}

absl::Status BuildFailedError(absl::string_view message) {
  return WithExitCode(absl::AbortedError(message), ExitCode::kBuildFailed);
}

absl::Status BuildCancelledError(absl::string_view message) {
  return WithExitCode(absl::CancelledError(message), ExitCode::kBuildCancelled);
}

absl::Status UsageError(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

}  // namespace sfactory::client
