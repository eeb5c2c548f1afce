// Finished artifacts, stored by sha256 under <state_dir>/artifacts/sha256/.
// A file enters only complete and hashed (rename into place), so a crash or
// a full disk never leaves a truncated artifact that looks finished.
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "common/env.h"
#include "sfactory/v1/sfactory.pb.h"

namespace sfactory::artifacts {

class ArtifactStore {
 public:
  // File writes and renames go through `env` (tests inject faults there).
  explicit ArtifactStore(std::filesystem::path root, Env* env = Env::Default())
      : root_(std::move(root)), env_(env) {}
  absl::Status Init();

  // Hashes `file` and moves it into the store (it must be on the same
  // filesystem; it is copied otherwise). Returns name, digest and size. On
  // error nothing is stored under the digest and `file` is kept.
  absl::StatusOr<v1::Artifact> Put(const std::filesystem::path& file, const std::string& name,
                                   const std::string& kind);

  std::filesystem::path PathOf(const std::string& sha256) const;

 private:
  std::filesystem::path root_;
  Env* env_;
};

}  // namespace sfactory::artifacts
