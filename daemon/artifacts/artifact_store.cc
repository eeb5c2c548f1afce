#include "daemon/artifacts/artifact_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/status.h"

namespace sfactory::artifacts {
namespace fs = std::filesystem;

absl::Status ArtifactStore::Init() {
  SF_RETURN_IF_ERROR(MakeDirs(root_ / "sha256"));
  SF_RETURN_IF_ERROR(RemoveAll(root_ / "tmp"));
  return MakeDirs(root_ / "tmp");
}

fs::path ArtifactStore::PathOf(const std::string& sha256) const {
  return root_ / "sha256" / sha256;
}

absl::StatusOr<v1::Artifact> ArtifactStore::Put(const fs::path& file, const std::string& name,
                                                const std::string& kind) {
  SF_ASSIGN_OR_RETURN(std::string sha, Sha256File(file));
  std::error_code ec;
  uint64_t size = fs::file_size(file, ec);
  if (ec) return ErrnoStatus(ec.value(), "stat " + file.string());
  fs::path dest = PathOf(sha);
  if (!fs::exists(dest, ec)) {
    if (::rename(file.c_str(), dest.c_str()) != 0) {
      if (errno != EXDEV) return ErrnoStatus(errno, "store artifact " + name);
      fs::path tmp = root_ / "tmp" / sha;
      fs::copy_file(file, tmp, fs::copy_options::overwrite_existing, ec);
      if (ec) return ErrnoStatus(ec.value(), "copy artifact " + name);
      SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(tmp, O_RDONLY));
      SF_RETURN_IF_ERROR(CommitFile(fd.get(), tmp, dest));
    }
    ::chmod(dest.c_str(), 0444);
  }
  // Consumed in every case (already stored, or copied across filesystems).
  fs::remove(file, ec);
  v1::Artifact a;
  a.set_name(name);
  a.set_sha256(sha);
  a.set_size(size);
  a.set_kind(kind);
  return a;
}

}  // namespace sfactory::artifacts
