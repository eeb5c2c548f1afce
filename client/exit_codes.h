// The exit codes of `sfactory`, and the one mapping from absl::Status to them.
// The table is part of the user interface: scripts test these numbers, so a
// code keeps its meaning forever. docs/USER_GUIDE.md and `sfactory help`
// print the same table (from ExitCodeTable()).
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace sfactory::client {

enum class ExitCode : int {
  kOk = 0,
  kBuildFailed = 1,       // the build ended FAILED
  kBadInput = 2,          // usage error, or the daemon rejected the request
  kUnreachable = 3,       // no answer from the daemon at the address tried
  kBuildCancelled = 4,    // the build ended CANCELLED
  kNotFound = 5,          // no such build, artifact, image or file
  kPermissionDenied = 6,  // not the owner / not an admin / unauthenticated
  kIntegrity = 7,         // an artifact's size or sha256 did not match
  kNoSpace = 8,           // a disk (the daemon's or this machine's) is full
  kInternal = 70,         // anything else (daemon bug, local I/O error, ...)
  kInterrupted = 130,     // Ctrl-C while following a build: it keeps running
};

struct ExitCodeInfo {
  ExitCode code;
  const char* meaning;
};

// Every code with a one-line meaning, in numeric order.
absl::Span<const ExitCodeInfo> ExitCodeTable();

// OK → kOk. Statuses made by BuildFailedError/BuildCancelledError carry their
// own code; otherwise by status code:
//   INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS, OUT_OF_RANGE → kBadInput
//   UNAVAILABLE, DEADLINE_EXCEEDED → kUnreachable
//   NOT_FOUND → kNotFound
//   PERMISSION_DENIED, UNAUTHENTICATED → kPermissionDenied
//   DATA_LOSS → kIntegrity
//   RESOURCE_EXHAUSTED → kNoSpace (a full disk: Connection::Explain turns
//     gRPC's own message size limits into INTERNAL before they get here)
//   anything else → kInternal
ExitCode ExitCodeFor(const absl::Status& status);

// A waited-for build that ended FAILED / CANCELLED, as a Status that maps to
// kBuildFailed / kBuildCancelled.
absl::Status BuildFailedError(absl::string_view message);
absl::Status BuildCancelledError(absl::string_view message);

// A command-line usage error (maps to kBadInput).
absl::Status UsageError(absl::string_view message);

}  // namespace sfactory::client
