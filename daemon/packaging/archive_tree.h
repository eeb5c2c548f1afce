// Internal to the archive code (archive_writer.cc, archive_reader.cc,
// archive_tree.cc): libarchive owners and the sorted listing of a tree that
// both the writer and DigestTree walk.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/fs.h"
#include "common/status.h"

namespace sfactory::packaging::internal {

constexpr size_t kChunk = 1 << 20;

struct ReadDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
struct WriteDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};
using ReadArchive = std::unique_ptr<struct archive, ReadDeleter>;
using WriteArchive = std::unique_ptr<struct archive, WriteDeleter>;
using Entry = std::unique_ptr<struct archive_entry, EntryDeleter>;

absl::Status ArchiveError(struct archive* a, absl::string_view what);

enum class Kind { kFile, kDir, kSymlink };

struct TreeEntry {
  std::string rel;  // relative to the root, '/'-separated, no trailing '/'
  Kind kind;
  int mode;         // normalised
  uint64_t size = 0;
  // Files only: another name of the same inode that sorts earlier.
  std::string link_to;
  dev_t dev = 0;
  ino_t ino = 0;
  nlink_t nlink = 1;
};

// Lists the tree below `root` in archive order, without following symlinks.
absl::StatusOr<std::vector<TreeEntry>> ListTree(const std::filesystem::path& root);

absl::StatusOr<std::string> ReadLink(const std::filesystem::path& p);

// Streams a file's content to `sink` in chunks and checks that exactly
// `expected` bytes were there (a file that changes under us is an error).
template <typename Sink>
absl::Status StreamFile(const std::filesystem::path& p, uint64_t expected, Sink&& sink) {
  SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(p, O_RDONLY));
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  std::unique_ptr<char[]> buf(new char[kChunk]);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.get(), kChunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("read ", p.string()));
    }
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
    if (total > expected) break;
    SF_RETURN_IF_ERROR(sink(absl::string_view(buf.get(), static_cast<size_t>(n))));
  }
  if (total != expected) {
    return absl::AbortedError(absl::StrCat(p.string(), " changed size while being read"));
  }
  return absl::OkStatus();
}

}  // namespace sfactory::packaging::internal
