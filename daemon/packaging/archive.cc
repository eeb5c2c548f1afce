#include "daemon/packaging/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <memory>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/status.h"

namespace sfactory::packaging {
namespace {

namespace fs = std::filesystem;

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

absl::Status ArchiveError(struct archive* a, absl::string_view what) {
  const char* msg = archive_error_string(a);
  return absl::InternalError(absl::StrCat(what, ": ", msg ? msg : "libarchive error"));
}

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
absl::StatusOr<std::vector<TreeEntry>> ListTree(const fs::path& root) {
  std::vector<TreeEntry> entries;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("list ", root.string()));
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const fs::path& p = it->path();
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("lstat ", p.string()));
    TreeEntry e;
    e.rel = p.lexically_relative(root).generic_string();
    if (S_ISDIR(st.st_mode)) {
      e.kind = Kind::kDir;
      e.mode = 0755;
    } else if (S_ISREG(st.st_mode)) {
      e.kind = Kind::kFile;
      e.mode = (st.st_mode & 0111) ? 0755 : 0644;
      e.size = static_cast<uint64_t>(st.st_size);
      e.dev = st.st_dev;
      e.ino = st.st_ino;
      e.nlink = st.st_nlink;
    } else if (S_ISLNK(st.st_mode)) {
      e.kind = Kind::kSymlink;
      e.mode = 0777;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot archive ", p.string(), ": not a file, directory or symlink"));
    }
    entries.push_back(std::move(e));
  }
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("list ", root.string()));
  // std::string compares through char_traits<char>, which orders like memcmp.
  std::sort(entries.begin(), entries.end(),
            [](const TreeEntry& a, const TreeEntry& b) { return a.rel < b.rel; });
  std::map<std::pair<dev_t, ino_t>, std::string> first_name;
  for (TreeEntry& e : entries) {
    if (e.kind != Kind::kFile || e.nlink < 2) continue;
    auto [it, inserted] = first_name.emplace(std::pair(e.dev, e.ino), e.rel);
    if (!inserted) e.link_to = it->second;
  }
  return entries;
}

absl::StatusOr<std::string> ReadLink(const fs::path& p) {
  std::error_code ec;
  fs::path target = fs::read_symlink(p, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("readlink ", p.string()));
  return target.string();
}

// Streams a file's content to `sink` in chunks and checks that exactly
// `expected` bytes were there (a file that changes under us is an error).
template <typename Sink>
absl::Status StreamFile(const fs::path& p, uint64_t expected, Sink&& sink) {
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

bool HasDotDot(absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part == "..") return true;
  }
  return false;
}

// Normalises an entry name ("./a//b/" -> "a/b") or explains why it is refused.
absl::StatusOr<std::string> CheckName(absl::string_view raw, const std::string& top) {
  std::string name(raw);
  if (name.empty()) return absl::InvalidArgumentError("entry with an empty name");
  if (name[0] == '/') return absl::InvalidArgumentError(absl::StrCat("absolute entry name: ", name));
  if (HasDotDot(name)) return absl::InvalidArgumentError(absl::StrCat("entry name with '..': ", name));
  while (name.size() >= 2 && name.compare(0, 2, "./") == 0) name.erase(0, 2);
  std::string clean = fs::path(name).lexically_normal().generic_string();
  while (!clean.empty() && clean.back() == '/') clean.pop_back();
  if (clean == ".") clean.clear();
  if (!top.empty() && clean != top && clean.rfind(top + "/", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("entry outside ", top, "/: ", std::string(raw)));
  }
  return clean;
}

// True when `p` is `root` or lies below it (both lexically normal).
bool IsWithin(const fs::path& p, const fs::path& root) {
  auto rel = p.lexically_relative(root);
  if (rel.empty()) return false;
  auto first = *rel.begin();
  return first != "..";
}

// Where `path` leads once every symlink on the way is followed, including a
// dangling last one (fs::weakly_canonical stops at those, and what lies
// behind a dangling link may be created later).
absl::StatusOr<fs::path> ResolvePhysically(fs::path path) {
  for (int hops = 0; hops < 40; ++hops) {
    std::error_code ec;
    fs::path parent = fs::weakly_canonical(path.parent_path(), ec);
    if (ec) return ErrnoStatus(ec.value(), absl::StrCat("resolve ", path.string()));
    fs::path here = (parent / path.filename()).lexically_normal();
    struct stat st;
    if (::lstat(here.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return here;
    SF_ASSIGN_OR_RETURN(std::string target, ReadLink(here));
    while (target.size() > 1 && target.back() == '/') target.pop_back();
    path = fs::path(target).is_absolute() ? fs::path(target) : here.parent_path() / target;
  }
  return absl::InvalidArgumentError("too many levels of symbolic links");
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

  fs::path tmp = out;
  tmp += absl::StrCat(".tmp.", ::getpid());
  SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644));
  // Frees the archive while `fd` is still open: archive_write_free flushes,
  // and after fd is closed its number may belong to another thread's file.
  auto fail = [&](absl::Status s) {
    a.reset();
    ::unlink(tmp.c_str());
    return s;
  };
  if (archive_write_open_fd(w, fd.get()) != ARCHIVE_OK) {
    return fail(ArchiveError(w, absl::StrCat("open ", tmp.string())));
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
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return fail(ErrnoStatus(errno, "fstat archive"));
  stats.archive_bytes = static_cast<uint64_t>(st.st_size);
  SF_RETURN_IF_ERROR(CommitFile(fd.get(), tmp, out));
  return stats;
}

absl::StatusOr<ExtractStats> SafeExtract(const fs::path& archive_path, const fs::path& dest_in,
                                         const ExtractOptions& options) {
  // libarchive's symlink check walks every component of the absolute names
  // we hand it, so the destination itself must not contain symlinks.
  std::error_code ec;
  fs::path dest = fs::canonical(dest_in, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("resolve ", dest_in.string()));
  const std::string& top = options.required_top;
  const fs::path tree_root = top.empty() ? dest : dest / top;

  ReadArchive r(archive_read_new());
  WriteArchive disk(archive_write_disk_new());
  if (!r || !disk) return absl::ResourceExhaustedError("libarchive allocation");
  archive_read_support_format_tar(r.get());
  archive_read_support_filter_all(r.get());
  // We pass absolute names (dest/...), so no SECURE_NOABSOLUTEPATHS; names
  // are checked above before they reach libarchive.
  archive_write_disk_set_options(disk.get(), ARCHIVE_EXTRACT_PERM |
                                                 ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                 ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  if (archive_read_open_filename(r.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return ArchiveError(r.get(), absl::StrCat("open ", archive_path.string()));
  }

  ExtractStats stats;
  std::vector<std::string> symlinks;
  struct archive_entry* ae = nullptr;
  for (;;) {
    int rc = archive_read_next_header(r.get(), &ae);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) return ArchiveError(r.get(), archive_path.string());
    const char* raw = archive_entry_pathname(ae);
    SF_ASSIGN_OR_RETURN(std::string name, CheckName(raw ? raw : "", top));
    if (name.empty()) continue;  // the "./" entry
    const char* link = archive_entry_hardlink(ae);
    // Hard-link entries may carry no file type of their own.
    mode_t type = link != nullptr ? AE_IFREG : archive_entry_filetype(ae);
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
      return absl::InvalidArgumentError(
          absl::StrCat("refusing entry ", name, ": not a file, directory or symlink"));
    }
    if (link != nullptr) {
      auto target = CheckName(link, top);
      if (!target.ok() || target->empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("refusing hard link ", name, " -> ", link, ": target outside the tree"));
      }
      archive_entry_copy_hardlink(ae, (dest / *target).c_str());
    }
    if (type == AE_IFLNK) {
      const char* t = archive_entry_symlink(ae);
      std::string target = t ? t : "";
      fs::path resolved = (dest / name).parent_path() / target;
      if (target.empty() || target[0] == '/' || !IsWithin(resolved.lexically_normal(), tree_root)) {
        return absl::InvalidArgumentError(
            absl::StrCat("refusing symlink ", name, " -> ", target, ": points outside the tree"));
      }
      symlinks.push_back(name);
    }
    mode_t perm = archive_entry_perm(ae) & 0777;
    if (type == AE_IFDIR) perm |= 0700;
    if (type == AE_IFREG) perm |= 0600;
    archive_entry_set_perm(ae, perm);
    archive_entry_copy_pathname(ae, (dest / name).c_str());

    if (archive_write_header(disk.get(), ae) < ARCHIVE_WARN) {
      return ArchiveError(disk.get(), absl::StrCat("extract ", name));
    }
    if (type == AE_IFREG && archive_entry_size(ae) > 0) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      for (;;) {
        rc = archive_read_data_block(r.get(), &buf, &size, &offset);
        if (rc == ARCHIVE_EOF) break;
        if (rc < ARCHIVE_WARN) return ArchiveError(r.get(), absl::StrCat("read ", name));
        if (archive_write_data_block(disk.get(), buf, size, offset) < ARCHIVE_WARN) {
          return ArchiveError(disk.get(), absl::StrCat("write ", name));
        }
        stats.bytes += size;
      }
    }
    if (archive_write_finish_entry(disk.get()) < ARCHIVE_WARN) {
      return ArchiveError(disk.get(), absl::StrCat("finish ", name));
    }
    ++stats.entries;
  }
  if (archive_write_close(disk.get()) != ARCHIVE_OK) {
    return ArchiveError(disk.get(), "finish extraction");
  }

  // The lexical check above cannot see through symlinks to directories
  // (lib/up -> .. makes lib/up/../x leave the tree); check physically.
  fs::path canonical_root = fs::weakly_canonical(tree_root, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("resolve ", tree_root.string()));
  for (const std::string& name : symlinks) {
    fs::path link = dest / name;
    auto target = ResolvePhysically(link);
    if (!target.ok() || !IsWithin(*target, canonical_root)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "refusing symlink ", name, " -> ", ReadLink(link).value_or("?"), ": ",
          target.ok() ? "resolves outside the tree" : target.status().message()));
    }
  }
  return stats;
}

absl::StatusOr<std::string> DigestTree(const fs::path& root) {
  SF_ASSIGN_OR_RETURN(std::vector<TreeEntry> entries, ListTree(root));
  Sha256 listing;
  for (const TreeEntry& e : entries) {
    std::string what;
    char type = 'f';
    switch (e.kind) {
      case Kind::kDir:
        type = 'd';
        what = "-";
        break;
      case Kind::kSymlink: {
        type = 'l';
        SF_ASSIGN_OR_RETURN(what, ReadLink(root / e.rel));
        break;
      }
      case Kind::kFile: {
        if (!e.link_to.empty()) {
          type = 'h';
          what = e.link_to;
          break;
        }
        Sha256 content;
        SF_RETURN_IF_ERROR(StreamFile(root / e.rel, e.size, [&](absl::string_view chunk) {
          content.Update(chunk);
          return absl::OkStatus();
        }));
        what = content.FinishHex();
        break;
      }
    }
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", e.mode);
    listing.Update(absl::StrCat(std::string(1, type), " ", mode, " ", what, " ", e.rel, "\n"));
  }
  return listing.FinishHex();
}

}  // namespace sfactory::packaging
