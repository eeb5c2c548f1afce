// Status helpers shared by every layer. errno becomes a Status in exactly one
// place (ErrnoStatus) so that messages read the same everywhere.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sfactory {

// Maps errno to the closest absl code: ENOENT → NotFound, EACCES/EPERM →
// PermissionDenied, ENOSPC/EDQUOT → ResourceExhausted, EEXIST → AlreadyExists,
// anything else → Internal. The message is "<what>: <strerror>"; the errno
// rides along as a payload (see ErrnoOf).
absl::Status ErrnoStatus(int err, absl::string_view what);

// The errno a status was made from by ErrnoStatus (kept through Annotate),
// or 0.
int ErrnoOf(const absl::Status& status);

// Returns `status` with `context + ": "` put in front of its message.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

// Returns `status` with its message replaced by `message` (code and payloads kept).
absl::Status WithMessage(const absl::Status& status, absl::string_view message);

}  // namespace sfactory

#define SF_STATUS_CONCAT_INNER_(a, b) a##b
#define SF_STATUS_CONCAT_(a, b) SF_STATUS_CONCAT_INNER_(a, b)

#define SF_RETURN_IF_ERROR(expr)                   \
  do {                                             \
    if (absl::Status sf_status_ = (expr); !sf_status_.ok()) \
      return sf_status_;                           \
  } while (0)

#define SF_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(*tmp)

#define SF_ASSIGN_OR_RETURN(lhs, expr) \
  SF_ASSIGN_OR_RETURN_IMPL_(SF_STATUS_CONCAT_(sf_statusor_, __LINE__), lhs, expr)
