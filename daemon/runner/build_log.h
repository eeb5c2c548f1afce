// A build's log: an append-only file plus a wake-up for watchers. Bytes are
// never rewritten, so a watcher that resumes from offset N gets exactly the
// bytes from N on, whether the build is still writing or long finished.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/fs.h"

namespace sfactory::runner {

class BuildLog {
 public:
  // Opens (creating if needed) the log at `path` for appending.
  static absl::StatusOr<std::shared_ptr<BuildLog>> Open(const std::filesystem::path& path);

  // Appends and wakes watchers. A write error (disk full) is returned; the
  // bytes already in the file stay valid.
  absl::Status Append(absl::string_view bytes);

  // Wakes watchers without new bytes (the build's state changed).
  void Touch();
  // No more bytes will come; watchers see closed() and end.
  void Close();

  uint64_t size() const;
  bool closed() const;
  // Bumped by Touch() and Close().
  uint64_t generation() const;

  // Blocks until size() > offset, generation() != seen_generation, closed(),
  // or `deadline`. Returns true when something changed.
  bool WaitForChange(uint64_t offset, uint64_t seen_generation, absl::Time deadline) const;

  const std::filesystem::path& path() const { return path_; }

 private:
  BuildLog(std::filesystem::path path, Fd fd, uint64_t size)
      : path_(std::move(path)), fd_(std::move(fd)), size_(size) {}
  const std::filesystem::path path_;
  mutable absl::Mutex mu_;
  Fd fd_ ABSL_GUARDED_BY(mu_);
  uint64_t size_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// Reads up to `max` bytes of the log file at `path` from `offset`. A missing
// file reads as empty.
absl::StatusOr<std::string> ReadLogChunk(const std::filesystem::path& path, uint64_t offset,
                                         size_t max);

}  // namespace sfactory::runner
