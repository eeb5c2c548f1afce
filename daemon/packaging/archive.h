// Deterministic tar archives, a safe extractor and a content digest of a
// directory tree, all through libarchive. Every function is reentrant and
// may run on any thread; none of them keeps state between calls.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sfactory::packaging {

enum class Compression { kZstd, kGzip, kNone };

// ".tar.zst", ".tar.gz" or ".tar".
absl::string_view ArchiveSuffix(Compression compression);

struct ArchiveOptions {
  Compression compression = Compression::kZstd;
  // 0 = the default level: zstd 3, gzip 6.
  int level = 0;
  // zstd worker threads; 0 = one per online CPU. Any value >= 1 gives the
  // same bytes (zstd's multi-threaded format does not depend on the worker
  // count), so archives are identical across machines.
  int threads = 0;
  // mtime of every entry (SOURCE_DATE_EPOCH).
  int64_t mtime = 0;
};

struct ArchiveStats {
  uint64_t entries = 0;
  uint64_t content_bytes = 0;  // bytes of regular-file content read
  uint64_t archive_bytes = 0;  // size of the written archive
};

// Writes every entry below `root` (root itself is not an entry) to `out` as a
// POSIX pax tar that uses extended headers only where ustar cannot express
// an entry (long names, files >= 8 GiB). The bytes depend only on the tree's
// names, types, exec bits, file contents and symlink targets:
//   - entries sorted bytewise by relative path, directories named "dir/";
//   - owner root:root (0:0), mtime = options.mtime, no atime/ctime/xattrs/ACLs;
//   - modes: directories 0755, files 0755 when any exec bit is set else 0644,
//     symlinks kept as symlinks (target verbatim); a file with several names
//     in the tree is stored once, under the name that sorts first, and the
//     other names are hard-link entries to it;
//   - gzip without a timestamp or file name in its header.
// File contents are streamed in chunks. The archive appears at `out`
// atomically (temp file + rename) or not at all. Errors: NotFound/
// PermissionDenied from the tree, InvalidArgument for sockets, fifos or device
// nodes in the tree, Internal for libarchive failures.
absl::StatusOr<ArchiveStats> WriteDeterministicArchive(const std::filesystem::path& root,
                                                       const std::filesystem::path& out,
                                                       const ArchiveOptions& options);

struct ExtractOptions {
  // Every entry must be this top-level directory or lie below it. Empty
  // accepts any relative name.
  std::string required_top = "software";
};

struct ExtractStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;
};

// Extracts a tar (plain, gzip or zstd) into the existing directory `dest`.
// Rejected with InvalidArgument, naming the entry: absolute names, any ".."
// component, names outside `required_top`, device nodes, fifos, sockets,
// hard links to rejected names, and symlinks whose target is absolute or
// resolves (through other symlinks too) outside `dest/required_top`.
// Directories and files get owner write permission so that later steps can
// patch them; set-id bits are dropped; ownership is never restored. A leading
// "./" is ignored. On error `dest` may hold a partial tree; the caller owns
// and removes it.
absl::StatusOr<ExtractStats> SafeExtract(const std::filesystem::path& archive,
                                         const std::filesystem::path& dest,
                                         const ExtractOptions& options = {});

// A digest of the tree below `root` that ignores everything the archive
// writer ignores. It is the lower-case hex sha256 of one line per entry, in
// the writer's order:
//   "<type> <mode> <what> <relative path>\n"
// with type f (file; what = sha256 of its content), h (another name of a
// file listed earlier; what = that name), d (directory; what = "-") or l
// (symlink; what = its target), and mode the normalised octal mode the
// archive records (0755, 0644, 0777 for symlinks).
absl::StatusOr<std::string> DigestTree(const std::filesystem::path& root);

}  // namespace sfactory::packaging
