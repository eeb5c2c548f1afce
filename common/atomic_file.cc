#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/status.h"

namespace sfactory {
namespace {

namespace fs = std::filesystem;

constexpr size_t kCopyChunk = 1 << 20;
// O_EXCL collisions (a crashed process with our pid left a temp) before giving up.
constexpr int kCreateAttempts = 8;

std::atomic<uint64_t> temp_counter{0};

Env* OrDefault(Env* env) { return env != nullptr ? env : Env::Default(); }

fs::path DirOf(const fs::path& path) {
  fs::path dir = path.parent_path();
  return dir.empty() ? fs::path(".") : dir;
}

fs::path TempPathFor(const fs::path& target) {
  return DirOf(target) /
         absl::StrCat(".", target.filename().string(), ".tmp.", ::getpid(), ".", temp_counter++);
}

// Appends what is left to read from `in` (the file `source`) to `out`.
absl::Status CopyContents(int in, const fs::path& source, AtomicFile& out) {
  std::string buf(kCopyChunk, '\0');
  for (;;) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("read ", source.string()));
    }
    if (n == 0) return absl::OkStatus();
    SF_RETURN_IF_ERROR(out.Append(absl::string_view(buf.data(), static_cast<size_t>(n))));
  }
}

}  // namespace

absl::Status ExplainWriteError(const absl::Status& status, const fs::path& dir) {
  if (status.ok()) return status;
  std::string hint;
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
      hint = absl::StrCat("free disk space in ", dir.string(), " and retry");
      break;
    case absl::StatusCode::kPermissionDenied:
      hint = absl::StrCat("check that the daemon may write ", dir.string());
      break;
    case absl::StatusCode::kInternal:
      hint = absl::StrCat("check the disk holding ", dir.string(), "; the kernel log tells more");
      break;
    default:
      return status;
  }
  return WithMessage(status, absl::StrCat(status.message(), " (", hint, ")"));
}

AtomicFile::AtomicFile(Env* env, fs::path target, std::unique_ptr<WritableFile> file)
    : env_(env), target_(std::move(target)), temp_(file->path()), file_(std::move(file)) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : env_(other.env_),
      target_(std::move(other.target_)),
      temp_(std::exchange(other.temp_, {})),
      file_(std::move(other.file_)),
      size_(other.size_) {}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this != &other) {
    Discard();
    env_ = other.env_;
    target_ = std::move(other.target_);
    temp_ = std::exchange(other.temp_, {});
    file_ = std::move(other.file_);
    size_ = other.size_;
  }
  return *this;
}

AtomicFile::~AtomicFile() { Discard(); }

void AtomicFile::Discard() {
  file_.reset();
  if (!temp_.empty()) (void)env_->RemoveFile(temp_);
  temp_.clear();
}

absl::StatusOr<AtomicFile> AtomicFile::Create(const fs::path& target,
                                              const AtomicFileOptions& options) {
  Env* env = OrDefault(options.env);
  absl::Status last;
  for (int i = 0; i < kCreateAttempts; ++i) {
    auto file = env->NewWritableFile(TempPathFor(target), options.mode);
    if (file.ok()) return AtomicFile(env, target, std::move(*file));
    last = file.status();
    if (!absl::IsAlreadyExists(last)) break;
  }
  return ExplainWriteError(last, DirOf(target));
}

absl::Status AtomicFile::Append(absl::string_view data) {
  if (temp_.empty()) return absl::FailedPreconditionError("append to a finished AtomicFile");
  absl::Status s = file_->Append(data);
  if (!s.ok()) return ExplainWriteError(s, DirOf(temp_));
  size_ += data.size();
  return absl::OkStatus();
}

absl::Status AtomicFile::AppendFileContents(const fs::path& source) {
  SF_ASSIGN_OR_RETURN(Fd in, OpenFile(source, O_RDONLY));
  return CopyContents(in.get(), source, *this);
}

absl::Status AtomicFile::Commit() { return CommitAs(target_); }

absl::Status AtomicFile::CommitAs(const fs::path& target) {
  if (temp_.empty()) return absl::FailedPreconditionError("commit of a finished AtomicFile");
  absl::Status s = file_->Sync();
  if (s.ok()) s = file_->Close();
  if (s.ok()) s = env_->Rename(temp_, target);
  if (!s.ok()) {
    Discard();
    return ExplainWriteError(s, DirOf(target));
  }
  file_.reset();
  temp_.clear();
  return ExplainWriteError(env_->SyncDir(DirOf(target)), DirOf(target));
}

absl::Status WriteFileAtomic(const fs::path& path, absl::string_view data, int mode, Env* env) {
  SF_ASSIGN_OR_RETURN(AtomicFile file, AtomicFile::Create(path, {.mode = mode, .env = env}));
  SF_RETURN_IF_ERROR(file.Append(data));
  return file.Commit();
}

absl::Status CopyFileAtomic(const fs::path& source, const fs::path& target, Env* env) {
  SF_ASSIGN_OR_RETURN(Fd in, OpenFile(source, O_RDONLY));
  struct stat st;
  if (::fstat(in.get(), &st) != 0)
    return ErrnoStatus(errno, absl::StrCat("stat ", source.string()));
  SF_ASSIGN_OR_RETURN(
      AtomicFile out,
      AtomicFile::Create(target, {.mode = static_cast<int>(st.st_mode & 07777), .env = env}));
  SF_RETURN_IF_ERROR(CopyContents(in.get(), source, out));
  return out.Commit();
}

absl::Status CommitFile(const fs::path& temp, const fs::path& target, Env* env) {
  env = OrDefault(env);
  absl::Status s = env->SyncFile(temp);
  if (s.ok()) s = MoveFileDurably(temp, target, env);
  if (!s.ok() && !temp.empty()) (void)env->RemoveFile(temp);
  return ExplainWriteError(s, DirOf(target));
}

absl::Status MoveFileDurably(const fs::path& from, const fs::path& to, Env* env) {
  env = OrDefault(env);
  SF_RETURN_IF_ERROR(env->Rename(from, to));
  return env->SyncDir(DirOf(to));
}

}  // namespace sfactory
