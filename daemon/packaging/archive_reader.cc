#include "daemon/packaging/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "daemon/packaging/archive_tree.h"

namespace sfactory::packaging {
namespace {

namespace fs = std::filesystem;
using internal::ArchiveError;
using internal::ReadArchive;
using internal::ReadLink;
using internal::WriteArchive;

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

}  // namespace sfactory::packaging
