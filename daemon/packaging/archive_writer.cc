#include "daemon/packaging/archive.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "common/status.h"
#include "daemon/packaging/archive_tree.h"

namespace sfactory::packaging {
namespace {

namespace fs = std::filesystem;
using internal::ArchiveError;
using internal::Entry;
using internal::Kind;
using internal::ListTree;
using internal::ReadLink;
using internal::StreamFile;
using internal::TreeEntry;
using internal::WriteArchive;

// libarchive's output: every block goes to the AtomicFile (and its Env).
struct Output {
  AtomicFile* file;
  absl::Status status;  // of the first failed write
};

la_ssize_t WriteBlock(struct archive* a, void* data, const void* buf, size_t n) {
  auto* out = static_cast<Output*>(data);
  out->status = out->file->Append(absl::string_view(static_cast<const char*>(buf), n));
  if (!out->status.ok()) {
    archive_set_error(a, EIO, "%s", std::string(out->status.message()).c_str());
    return -1;
  }
  return static_cast<la_ssize_t>(n);
}

}  // namespace

absl::string_view ArchiveSuffix(Compression compression) {
  switch (compression) {
    case Compression::kZstd:
      return ".tar.zst";
    case Compression::kGzip:
      return ".tar.gz";
    case Compression::kNone:
      return ".tar";
  }
  return ".tar";
}

absl::StatusOr<ArchiveStats> WriteDeterministicArchive(const fs::path& root, const fs::path& out,
                                                       const ArchiveOptions& options) {
  SF_ASSIGN_OR_RETURN(std::vector<TreeEntry> entries, ListTree(root));
  // Declared before the archive, which flushes into it when freed.
  SF_ASSIGN_OR_RETURN(AtomicFile file, AtomicFile::Create(out));
  Output output{&file};

  WriteArchive a(archive_write_new());
  if (!a) return absl::ResourceExhaustedError("archive_write_new");
  struct archive* w = a.get();
  if (archive_write_set_format_pax_restricted(w) != ARCHIVE_OK) {
    return ArchiveError(w, "set pax format");
  }
  switch (options.compression) {
    case Compression::kZstd: {
      int level = options.level > 0 ? options.level : 3;
      int threads = options.threads > 0 ? options.threads
                                        : static_cast<int>(std::thread::hardware_concurrency());
      threads = std::max(threads, 1);
      if (archive_write_add_filter_zstd(w) != ARCHIVE_OK) return ArchiveError(w, "zstd filter");
      if (archive_write_set_filter_option(w, "zstd", "compression-level",
                                          std::to_string(level).c_str()) != ARCHIVE_OK) {
        return ArchiveError(w, "zstd level");
      }
      // libarchive >= 3.6 passes this to ZSTD_c_nbWorkers.
      if (archive_write_set_filter_option(w, "zstd", "threads", std::to_string(threads).c_str()) !=
          ARCHIVE_OK) {
        return ArchiveError(w, "zstd threads");
      }
      break;
    }
    case Compression::kGzip: {
      int level = options.level > 0 ? options.level : 6;
      if (archive_write_add_filter_gzip(w) != ARCHIVE_OK) return ArchiveError(w, "gzip filter");
      if (archive_write_set_filter_option(w, "gzip", "compression-level",
                                          std::to_string(level).c_str()) != ARCHIVE_OK) {
        return ArchiveError(w, "gzip level");
      }
      // "!timestamp": no mtime in the gzip header (the default is now()).
      if (archive_write_set_filter_option(w, "gzip", "timestamp", nullptr) != ARCHIVE_OK) {
        return ArchiveError(w, "gzip timestamp");
      }
      break;
    }
    case Compression::kNone:
      break;
  }

  // A failed write explains itself better (a full disk) than libarchive.
  auto fail = [&](absl::Status s) { return output.status.ok() ? s : output.status; };
  // As archive_write_open_fd does for a regular file: no padding of the last block.
  archive_write_set_bytes_in_last_block(w, 1);
  if (archive_write_open(w, &output, nullptr, WriteBlock, nullptr) != ARCHIVE_OK) {
    return fail(ArchiveError(w, absl::StrCat("open ", file.temp_path().string())));
  }

  ArchiveStats stats;
  Entry entry(archive_entry_new());
  for (const TreeEntry& e : entries) {
    struct archive_entry* ae = entry.get();
    archive_entry_clear(ae);
    fs::path src = root / e.rel;
    archive_entry_copy_pathname(ae, e.kind == Kind::kDir ? (e.rel + "/").c_str() : e.rel.c_str());
    archive_entry_set_uid(ae, 0);
    archive_entry_set_gid(ae, 0);
    archive_entry_copy_uname(ae, "root");
    archive_entry_copy_gname(ae, "root");
    archive_entry_set_mtime(ae, options.mtime, 0);
    switch (e.kind) {
      case Kind::kDir:
        archive_entry_set_filetype(ae, AE_IFDIR);
        archive_entry_set_size(ae, 0);
        break;
      case Kind::kFile:
        archive_entry_set_filetype(ae, AE_IFREG);
        if (e.link_to.empty()) {
          archive_entry_set_size(ae, static_cast<la_int64_t>(e.size));
        } else {
          archive_entry_set_size(ae, 0);
          archive_entry_copy_hardlink(ae, e.link_to.c_str());
        }
        break;
      case Kind::kSymlink: {
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_size(ae, 0);
        auto target = ReadLink(src);
        if (!target.ok()) return fail(target.status());
        archive_entry_copy_symlink(ae, target->c_str());
        break;
      }
    }
    archive_entry_set_perm(ae, static_cast<mode_t>(e.mode));
    if (archive_write_header(w, ae) < ARCHIVE_WARN) {
      return fail(ArchiveError(w, absl::StrCat("write header of ", e.rel)));
    }
    if (e.kind == Kind::kFile && e.link_to.empty()) {
      absl::Status s = StreamFile(src, e.size, [&](absl::string_view chunk) -> absl::Status {
        if (archive_write_data(w, chunk.data(), chunk.size()) < 0) {
          return ArchiveError(w, absl::StrCat("write ", e.rel));
        }
        return absl::OkStatus();
      });
      if (!s.ok()) return fail(s);
      stats.content_bytes += e.size;
    }
    ++stats.entries;
  }
  if (archive_write_close(w) != ARCHIVE_OK) return fail(ArchiveError(w, "finish archive"));
  a.reset();
  stats.archive_bytes = file.size();
  SF_RETURN_IF_ERROR(file.Commit());
  return stats;
}

}  // namespace sfactory::packaging
