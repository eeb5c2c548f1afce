// A fault-injecting Env for unit tests, after leveldb's fault-injection
// test env: it forwards to Env::Default() and, when a switch is set, fails
// the way a real disk does (the errno becomes a Status through ErrnoStatus,
// exactly as in production). Set switches between calls, from the test's
// thread; the counters say what the code under test did.
//
//   FaultEnv env;
//   env.space_left = 10;  // a full disk after 10 more bytes
//   ArtifactStore store(dir, &env);
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/env.h"
#include "common/status.h"

namespace sfactory::testing {

class FaultEnv : public Env {
 public:
  // The Nth Append from now on (1 = the next) fails with EIO; 0 = none.
  int fail_write_number = 0;
  // When set: bytes that still fit; an Append that does not fit writes
  // what fits, then fails with ENOSPC (as write(2) on a full disk).
  std::optional<uint64_t> space_left;
  // fsync of a file (WritableFile::Sync, SyncFile) fails with EIO.
  bool fail_sync = false;
  // fsync of a directory fails with EIO.
  bool fail_sync_dir = false;
  // The next Rename fails with this errno (e.g. EXDEV: another
  // filesystem), which is then cleared; 0 = none.
  int rename_errno = 0;

  int appends = 0;
  int syncs = 0;
  int dir_syncs = 0;
  int renames = 0;

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::filesystem::path& path,
                                                                int mode) override {
    auto base = Env::Default()->NewWritableFile(path, mode);
    if (!base.ok()) return base.status();
    return std::unique_ptr<WritableFile>(new File(this, std::move(*base)));
  }

  absl::Status SyncFile(const std::filesystem::path& path) override {
    ++syncs;
    if (fail_sync) return ErrnoStatus(EIO, absl::StrCat("fsync ", path.string()));
    return Env::Default()->SyncFile(path);
  }

  absl::Status Rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    ++renames;
    if (int err = std::exchange(rename_errno, 0); err != 0) {
      return ErrnoStatus(err, absl::StrCat("rename ", from.string(), " to ", to.string()));
    }
    return Env::Default()->Rename(from, to);
  }

  absl::Status SyncDir(const std::filesystem::path& dir) override {
    ++dir_syncs;
    if (fail_sync_dir) return ErrnoStatus(EIO, absl::StrCat("fsync directory ", dir.string()));
    return Env::Default()->SyncDir(dir);
  }

  absl::Status RemoveFile(const std::filesystem::path& path) override {
    return Env::Default()->RemoveFile(path);
  }

 private:
  class File : public WritableFile {
   public:
    File(FaultEnv* env, std::unique_ptr<WritableFile> base) : env_(env), base_(std::move(base)) {}

    absl::Status Append(absl::string_view data) override {
      ++env_->appends;
      const std::string what = absl::StrCat("write ", path().string());
      if (env_->fail_write_number > 0 && --env_->fail_write_number == 0) {
        return ErrnoStatus(EIO, what);
      }
      if (env_->space_left) {
        uint64_t fits = std::min<uint64_t>(*env_->space_left, data.size());
        *env_->space_left -= fits;
        if (fits < data.size()) {
          if (absl::Status s = base_->Append(data.substr(0, fits)); !s.ok()) return s;
          return ErrnoStatus(ENOSPC, what);
        }
      }
      return base_->Append(data);
    }

    absl::Status Sync() override {
      ++env_->syncs;
      if (env_->fail_sync) return ErrnoStatus(EIO, absl::StrCat("fsync ", path().string()));
      return base_->Sync();
    }

    absl::Status Close() override { return base_->Close(); }
    const std::filesystem::path& path() const override { return base_->path(); }

   private:
    FaultEnv* env_;
    std::unique_ptr<WritableFile> base_;
  };
};

// Files in `dir` whose name marks them as an AtomicFile's temporary file.
inline int CountTempFiles(const std::filesystem::path& dir) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().filename().string().find(".tmp.") != std::string::npos) ++n;
  }
  return n;
}

}  // namespace sfactory::testing
