#include "daemon/runner/build_log.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "common/status.h"

namespace sfactory::runner {

absl::StatusOr<std::shared_ptr<BuildLog>> BuildLog::Open(const std::filesystem::path& path) {
  SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(path, O_WRONLY | O_CREAT | O_APPEND, 0644));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "stat " + path.string());
  return std::shared_ptr<BuildLog>(
      new BuildLog(path, std::move(fd), static_cast<uint64_t>(st.st_size)));
}

absl::Status BuildLog::Append(absl::string_view bytes) {
  if (bytes.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  absl::Status s = WriteAll(fd_.get(), bytes);
  // On a short write the file may hold part of `bytes`; size_ follows the
  // file so watchers never skip or repeat what is there.
  struct stat st;
  if (::fstat(fd_.get(), &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
  return s;
}

void BuildLog::Touch() {
  absl::MutexLock lock(&mu_);
  ++generation_;
}

void BuildLog::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  ++generation_;
}

uint64_t BuildLog::size() const {
  absl::MutexLock lock(&mu_);
  return size_;
}

bool BuildLog::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

uint64_t BuildLog::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

bool BuildLog::WaitForChange(uint64_t offset, uint64_t seen_generation,
                             absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto changed = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return size_ > offset || generation_ != seen_generation || closed_;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&changed), deadline);
}

absl::StatusOr<std::string> ReadLogChunk(const std::filesystem::path& path, uint64_t offset,
                                         size_t max) {
  auto fd = OpenFile(path, O_RDONLY);
  if (!fd.ok()) {
    if (absl::IsNotFound(fd.status())) return std::string();
    return fd.status();
  }
  std::string buf(max, '\0');
  SF_ASSIGN_OR_RETURN(size_t n, PreadFull(fd->get(), buf.data(), max, offset));
  buf.resize(n);
  return buf;
}

}  // namespace sfactory::runner
