// The narrow interface through which file writers reach the OS, after
// leveldb's Env: the production code uses Env::Default(), and a test wraps it
// to inject a failing write, a failing fsync or a full disk
// (tests/fault_env.h). Only what the atomic writers need is here; reading
// and listing still use the OS directly.
//
// Every method returns the errno of the failed call as a Status through
// ErrnoStatus (ENOSPC → ResourceExhausted, ...), naming the path. Env and
// WritableFile objects may be used from any thread; one WritableFile from
// one thread at a time.
#pragma once

#include <filesystem>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sfactory {

// A file open for writing. The destructor closes it (ignoring errors) when
// Close() was not called.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Writes all of `data` (retrying on EINTR and short writes).
  virtual absl::Status Append(absl::string_view data) = 0;
  // fsync: the content is on disk when this returns OK.
  virtual absl::Status Sync() = 0;
  // close(2); its error (NFS reports write-back failures here) is returned.
  virtual absl::Status Close() = 0;
  virtual const std::filesystem::path& path() const = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // The POSIX implementation; never deleted.
  static Env* Default();

  // Creates `path`, which must not exist (O_EXCL: AlreadyExists), for writing
  // with permission bits `mode` (less the umask).
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::filesystem::path& path, int mode) = 0;
  // fsyncs an existing file that someone else wrote (e.g. a copy made by a
  // library call).
  virtual absl::Status SyncFile(const std::filesystem::path& path) = 0;
  // rename(2): atomically replaces `to`. Both must be on one filesystem
  // (EXDEV otherwise).
  virtual absl::Status Rename(const std::filesystem::path& from,
                              const std::filesystem::path& to) = 0;
  // fsyncs a directory, which makes the names created or renamed in it
  // durable (fsync of a file does not cover its directory entry).
  virtual absl::Status SyncDir(const std::filesystem::path& dir) = 0;
  // unlink(2); a missing file is not an error.
  virtual absl::Status RemoveFile(const std::filesystem::path& path) = 0;
};

}  // namespace sfactory
