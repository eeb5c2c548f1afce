#include "common/env.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/status.h"

namespace sfactory {
namespace {

namespace fs = std::filesystem;

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(fs::path path, Fd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

  absl::Status Append(absl::string_view data) override {
    return Annotate(WriteAll(fd_.get(), data), path_.string());
  }

  absl::Status Sync() override {
    if (::fsync(fd_.get()) != 0) return ErrnoStatus(errno, absl::StrCat("fsync ", path_.string()));
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (::close(fd_.Release()) != 0) {
      return ErrnoStatus(errno, absl::StrCat("close ", path_.string()));
    }
    return absl::OkStatus();
  }

  const fs::path& path() const override { return path_; }

 private:
  fs::path path_;
  Fd fd_;
};

absl::Status SyncPath(const fs::path& path, int flags, absl::string_view what) {
  SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(path, flags));
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, absl::StrCat(what, " ", path.string()));
  return absl::OkStatus();
}

class PosixEnv : public Env {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const fs::path& path,
                                                                int mode) override {
    SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(path, O_WRONLY | O_CREAT | O_EXCL, mode));
    return std::make_unique<PosixWritableFile>(path, std::move(fd));
  }

  absl::Status SyncFile(const fs::path& path) override { return SyncPath(path, O_RDONLY, "fsync"); }

  absl::Status Rename(const fs::path& from, const fs::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoStatus(errno, absl::StrCat("rename ", from.string(), " to ", to.string()));
    }
    return absl::OkStatus();
  }

  absl::Status SyncDir(const fs::path& dir) override {
    return SyncPath(dir.empty() ? fs::path(".") : dir, O_RDONLY | O_DIRECTORY, "fsync directory");
  }

  absl::Status RemoveFile(const fs::path& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("remove ", path.string()));
    }
    return absl::OkStatus();
  }
};

}  // namespace

Env* Env::Default() {
  static Env* const env = new PosixEnv;
  return env;
}

}  // namespace sfactory
