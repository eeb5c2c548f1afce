// Writing a file so that a reader, a crash or a full disk never sees it half
// written: the one way every writer in sfactory publishes a file.
//
//   SF_ASSIGN_OR_RETURN(AtomicFile file, AtomicFile::Create(path, {.mode = 0644}));
//   SF_RETURN_IF_ERROR(file.Append(data));
//   SF_RETURN_IF_ERROR(file.Commit());
//
// The content goes to a temporary file beside the target,
// ".<name>.tmp.<pid>.<n>", which Commit() fsyncs, renames over the target and
// makes durable by fsyncing the directory (a rename lives in the directory,
// which an fsync of the file does not cover). Until Commit() returns OK the
// target keeps its previous content (or stays absent); an AtomicFile
// destroyed without Commit() removes its temporary file.
//
// Errors name the file and say what to do, e.g. "write /x/y: No space left on
// device (free disk space in /x and retry)"; ENOSPC is ResourceExhausted.
// All OS access goes through an Env (common/env.h) so tests can inject faults.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/env.h"

namespace sfactory {

struct AtomicFileOptions {
  int mode = 0644;     // permission bits of the new file (less the umask)
  Env* env = nullptr;  // Env::Default() when null
};

class AtomicFile {
 public:
  // Creates the temporary file beside `target`, whose directory must exist.
  static absl::StatusOr<AtomicFile> Create(const std::filesystem::path& target,
                                           const AtomicFileOptions& options = {});

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&& other) noexcept;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  // Removes the temporary file unless committed.
  ~AtomicFile();

  absl::Status Append(absl::string_view data);
  // Appends the content of the file `source` (read directly from the OS).
  absl::Status AppendFileContents(const std::filesystem::path& source);

  // fsync, rename over the target, fsync its directory. On an error before
  // the rename the temporary file is removed and the target is untouched; an
  // error from the directory fsync leaves the new, complete content at the
  // target, not yet known to be durable. Call at most once.
  absl::Status Commit();
  // Commit() to another name, for a content-addressed file whose name is
  // known only once written: create it in a scratch directory, then
  // CommitAs(<dir>/<digest>). `target` must be on the same filesystem.
  absl::Status CommitAs(const std::filesystem::path& target);

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  // Bytes appended so far.
  uint64_t size() const { return size_; }

 private:
  AtomicFile(Env* env, std::filesystem::path target, std::unique_ptr<WritableFile> file);
  void Discard();

  Env* env_;
  std::filesystem::path target_;
  std::filesystem::path temp_;  // empty once committed or discarded
  std::unique_ptr<WritableFile> file_;
  uint64_t size_ = 0;
};

// Writes `data` to `path` through an AtomicFile.
absl::Status WriteFileAtomic(const std::filesystem::path& path, absl::string_view data,
                             int mode = 0644, Env* env = nullptr);

// Copies `source` to `target` through an AtomicFile; the copy gets the
// permission bits of `source` (as std::filesystem::copy_file does).
absl::Status CopyFileAtomic(const std::filesystem::path& source,
                            const std::filesystem::path& target, Env* env = nullptr);

// Publishes a finished file that someone else wrote at `temp` (a download, a
// copy made by a library): fsync, rename to `target`, fsync the directory.
// On failure `temp` is removed; `target` is as AtomicFile::Commit leaves it.
absl::Status CommitFile(const std::filesystem::path& temp, const std::filesystem::path& target,
                        Env* env = nullptr);

// Moves a durable file to `to` (rename + fsync of the directory of `to`),
// e.g. into a store. On failure `from` is left where it was (EXDEV: the
// caller copies instead).
absl::Status MoveFileDurably(const std::filesystem::path& from, const std::filesystem::path& to,
                             Env* env = nullptr);

// Adds what to do to an error about writing in `dir` ("... (free disk space
// in DIR and retry)" for a full disk).
absl::Status ExplainWriteError(const absl::Status& status, const std::filesystem::path& dir);

}  // namespace sfactory
