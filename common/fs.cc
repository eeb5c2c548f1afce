#include "common/fs.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sfactory {

namespace fs = std::filesystem;

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) Reset(other.Release());
  return *this;
}

int Fd::Release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void Fd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

absl::StatusOr<Fd> OpenFile(const fs::path& path, int flags, int mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", path.string()));
  return Fd(fd);
}

absl::Status WriteAll(int fd, absl::string_view data, absl::string_view what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, what);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> PreadFull(int fd, char* buf, size_t size, uint64_t offset) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, buf + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read");
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(path, O_RDONLY));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("read ", path.string()));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

absl::Status MakeDirs(const fs::path& path, int mode) {
  // Only directories made here get `mode` (chmod, as mkdir's is cut by the
  // umask): an existing one, e.g. a sticky /tmp or the user's ".", keeps
  // its mode and owner.
  fs::path partial;
  for (const fs::path& part : path.lexically_normal()) {
    if (part.empty()) continue;  // the trailing "" of "a/b/"
    partial /= part;
    if (::mkdir(partial.c_str(), static_cast<mode_t>(mode)) == 0) {
      if (::chmod(partial.c_str(), static_cast<mode_t>(mode)) != 0) {
        return ErrnoStatus(errno, absl::StrCat("chmod ", partial.string()));
      }
      continue;
    }
    int err = errno;
    struct stat st;
    if (err == EEXIST && ::stat(partial.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    if (err == EEXIST) err = ENOTDIR;
    return ErrnoStatus(err, absl::StrCat("create directory ", partial.string()));
  }
  return absl::OkStatus();
}

absl::Status RemoveAll(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("remove ", path.string()));
  return absl::OkStatus();
}

absl::StatusOr<TempDir> TempDir::Create(absl::string_view prefix, const fs::path& parent) {
  fs::path base = parent;
  if (base.empty()) {
    const char* tmp = ::getenv("TMPDIR");
    base = (tmp && *tmp) ? tmp : "/tmp";
  }
  std::string templ = (base / absl::StrCat(prefix, "XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr) {
    return ErrnoStatus(errno, absl::StrCat("create temporary directory in ", base.string()));
  }
  TempDir dir;
  dir.path_ = templ;
  return dir;
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)), keep_(other.keep_) {
  other.path_.clear();
}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    if (!path_.empty() && !keep_) (void)RemoveAll(path_);
    path_ = std::move(other.path_);
    keep_ = other.keep_;
    other.path_.clear();
  }
  return *this;
}

TempDir::~TempDir() {
  if (!path_.empty() && !keep_) (void)RemoveAll(path_);
}

namespace {
absl::StatusOr<struct statvfs> StatFs(const fs::path& path) {
  struct statvfs st;
  if (::statvfs(path.c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("statvfs ", path.string()));
  }
  return st;
}
}  // namespace

absl::StatusOr<uint64_t> FreeBytes(const fs::path& path) {
  SF_ASSIGN_OR_RETURN(struct statvfs st, StatFs(path));
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

absl::StatusOr<uint64_t> FilesystemBytes(const fs::path& path) {
  SF_ASSIGN_OR_RETURN(struct statvfs st, StatFs(path));
  return static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
}

absl::StatusOr<DiskUsage> DirUsage(const fs::path& dir) {
  DiskUsage usage;
  struct stat root;
  if (::lstat(dir.c_str(), &root) != 0) {
    if (errno == ENOENT) return usage;
    return ErrnoStatus(errno, absl::StrCat("stat ", dir.string()));
  }
  if (!S_ISDIR(root.st_mode)) {
    usage.bytes = static_cast<uint64_t>(root.st_blocks) * 512;
    usage.files = S_ISREG(root.st_mode) ? 1 : 0;
    return usage;
  }
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("read ", dir.string()));
  // A walk error (a directory removed under us) ends the walk: usage is a
  // report, and what was counted stays true.
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0) continue;  // vanished meanwhile
    if (S_ISDIR(st.st_mode) && st.st_dev != root.st_dev) {
      it.disable_recursion_pending();  // another filesystem mounted inside
      continue;
    }
    usage.bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    if (S_ISREG(st.st_mode)) ++usage.files;
  }
  return usage;
}

}  // namespace sfactory
