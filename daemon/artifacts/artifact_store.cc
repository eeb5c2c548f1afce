#include "daemon/artifacts/artifact_store.h"

#include <sys/stat.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
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
    absl::Status moved = MoveFileDurably(file, dest, env_);
    if (moved.ok()) {
      ::chmod(dest.c_str(), 0444);
    } else {
      if (ErrnoOf(moved) != EXDEV) return Annotate(moved, "store artifact " + name);
      // Another filesystem: a copy made in tmp/ (emptied by Init after a crash).
      SF_ASSIGN_OR_RETURN(AtomicFile copy,
                          AtomicFile::Create(root_ / "tmp" / sha, {.mode = 0444, .env = env_}));
      absl::Status s = copy.AppendFileContents(file);
      if (s.ok()) s = copy.CommitAs(dest);
      if (!s.ok()) return Annotate(s, "copy artifact " + name);
    }
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
