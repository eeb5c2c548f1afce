// Move-only owners for OS resources and the few file operations every layer
// needs. All of them return a Status instead of throwing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sfactory {

// Owns one file descriptor; closes it on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.Release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

absl::StatusOr<Fd> OpenFile(const std::filesystem::path& path, int flags, int mode = 0644);

// Writes all of `data`, retrying on EINTR and short writes. Errors read
// "<what>: <strerror>".
absl::Status WriteAll(int fd, absl::string_view data, absl::string_view what = "write");
// pread() until `size` bytes or end of file; returns what was read.
absl::StatusOr<size_t> PreadFull(int fd, char* buf, size_t size, uint64_t offset);

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path);

// mkdir -p. Directories it creates get exactly `mode`; existing ones are
// left as they are (mode, owner, sticky bit).
absl::Status MakeDirs(const std::filesystem::path& path, int mode = 0755);

// rm -rf; a missing path is not an error.
absl::Status RemoveAll(const std::filesystem::path& path);

// A private directory removed (recursively) on destruction unless Keep().
class TempDir {
 public:
  // Creates `<parent>/<prefix>XXXXXX` (parent defaults to $TMPDIR or /tmp).
  static absl::StatusOr<TempDir> Create(absl::string_view prefix,
                                        const std::filesystem::path& parent = {});
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::filesystem::path& path() const { return path_; }
  void Keep() { keep_ = true; }

 private:
  TempDir() = default;
  std::filesystem::path path_;
  bool keep_ = false;
};

// Free bytes for an unprivileged user on the filesystem holding `path`.
absl::StatusOr<uint64_t> FreeBytes(const std::filesystem::path& path);
// Total size of the filesystem holding `path`.
absl::StatusOr<uint64_t> FilesystemBytes(const std::filesystem::path& path);

// What a directory tree (or a single file) takes on disk: allocated bytes (st_blocks, as `du`
// counts; sparse files count what they occupy) and regular files. Does not
// follow symlinks or cross into other filesystems. A missing directory is
// {0, 0}; entries that vanish during the walk are skipped (a vanished
// directory ends the walk: the result is then a lower bound).
struct DiskUsage {
  uint64_t bytes = 0;
  uint64_t files = 0;
};
absl::StatusOr<DiskUsage> DirUsage(const std::filesystem::path& dir);

}  // namespace sfactory

// WriteFileAtomic and CommitFile, which most callers of this header use.
#include "common/atomic_file.h"  // IWYU pragma: export
