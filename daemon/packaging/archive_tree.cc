#include "daemon/packaging/archive_tree.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <system_error>
#include <utility>

#include "common/sha256.h"
#include "daemon/packaging/archive.h"

namespace sfactory::packaging {
namespace internal {

namespace fs = std::filesystem;

absl::Status ArchiveError(struct archive* a, absl::string_view what) {
  const char* msg = archive_error_string(a);
  return absl::InternalError(absl::StrCat(what, ": ", msg ? msg : "libarchive error"));
}

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

}  // namespace internal

namespace fs = std::filesystem;
using internal::Kind;
using internal::ListTree;
using internal::ReadLink;
using internal::StreamFile;
using internal::TreeEntry;

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
