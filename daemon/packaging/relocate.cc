#include "daemon/packaging/relocate.h"

#include <elf.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/fs.h"
#include "common/status.h"
#include "common/subprocess.h"
#include "daemon/packaging/elf_file.h"

namespace sfactory::packaging {
namespace {

namespace fs = std::filesystem;

std::string Rel(const fs::path& p, const fs::path& base) {
  std::string s = p.lexically_relative(base).generic_string();
  return s.empty() ? "." : s;
}

// libtool writes "# libfoo.la - a libtool library file" on its first lines.
bool IsLibtoolArchive(const fs::path& p) {
  auto text = ReadFile(p);
  if (!text.ok()) return false;
  return absl::StrContains(absl::string_view(*text).substr(0, 512), "libtool");
}

bool IsPathChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
         c == '+';
}

// Replaces `from` by `to` where `from` ends at a path-component boundary.
std::string ReplacePrefix(std::string line, const std::string& from, absl::string_view to) {
  size_t pos = 0;
  while ((pos = line.find(from, pos)) != std::string::npos) {
    size_t end = pos + from.size();
    bool boundary = end == line.size() || !IsPathChar(line[end]);
    bool starts = pos == 0 || !IsPathChar(line[pos - 1]);
    if (boundary && starts) {
      line.replace(pos, from.size(), to.data(), to.size());
      pos += to.size();
    } else {
      pos = end;
    }
  }
  return line;
}

absl::Status RunPatchelf(const std::string& patchelf, std::vector<std::string> args,
                         const fs::path& file) {
  std::vector<std::string> argv = {patchelf};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(file.string());
  SF_ASSIGN_OR_RETURN(RunResult r, RunCapture(argv));
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), " exited with ",
                                            r.exit_code, ": ",
                                            absl::StripTrailingAsciiWhitespace(r.output)));
  }
  return absl::OkStatus();
}

struct DynamicElf {
  fs::path path;
  ElfInfo info;
};

}  // namespace

std::string RunpathFor(const std::string& file_dir, const std::vector<std::string>& library_dirs) {
  std::vector<std::string> entries;
  for (const std::string& dir : library_dirs) {
    std::string rel = fs::path(dir).lexically_relative(file_dir).generic_string();
    if (rel.empty() || rel == ".") {
      entries.push_back("$ORIGIN");
    } else {
      entries.push_back(absl::StrCat("$ORIGIN/", rel));
    }
  }
  return absl::StrJoin(entries, ":");
}

std::string RewritePkgConfig(absl::string_view content, absl::string_view root_from_pcfiledir,
                             const std::vector<std::string>& prefixes) {
  std::vector<std::string> lines = absl::StrSplit(content, '\n');
  std::vector<std::string> olds;
  for (const std::string& line : lines) {
    if (absl::StartsWith(line, "prefix=")) {
      olds.emplace_back(absl::StripAsciiWhitespace(line.substr(7)));
    }
  }
  olds.insert(olds.end(), prefixes.begin(), prefixes.end());
  // Drop empties and "/" (replacing it would mangle every path), strip
  // trailing slashes, longest first so a prefix never eats a longer one.
  std::set<std::string> uniq;
  for (std::string p : olds) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    if (p.empty() || p == "/" || absl::StrContains(p, "${")) continue;
    uniq.insert(p);
  }
  std::vector<std::string> order(uniq.begin(), uniq.end());
  std::sort(order.begin(), order.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });

  for (std::string& line : lines) {
    if (absl::StartsWith(line, "prefix=")) {
      line = absl::StrCat("prefix=${pcfiledir}/", root_from_pcfiledir);
      continue;
    }
    for (const std::string& p : order) line = ReplacePrefix(std::move(line), p, "${prefix}");
  }
  return absl::StrJoin(lines, "\n");
}

absl::StatusOr<RelocationReport> Relocate(const fs::path& software_dir,
                                          const RelocateOptions& options) {
  std::error_code ec;
  const fs::path root = fs::canonical(software_dir, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("resolve ", software_dir.string()));
  const fs::path display = root.parent_path();
  RelocationReport report;

  std::vector<fs::path> files;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_symlink(ec) || !it->is_regular_file(ec)) continue;
    files.push_back(it->path());
  }
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("walk ", root.string()));
  std::sort(files.begin(), files.end());

  std::vector<DynamicElf> elves;
  // Every file name in the tree (regular or symlink) → the directories
  // holding it, to find where a DT_NEEDED soname lives.
  std::map<std::string, std::set<std::string>> names;
  for (fs::recursive_directory_iterator all(root, fs::directory_options::none, ec);
       !ec && all != fs::recursive_directory_iterator(); all.increment(ec)) {
    if (all->is_directory(ec) && !all->is_symlink(ec)) continue;
    names[all->path().filename().string()].insert(Rel(all->path().parent_path(), root));
  }
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("walk ", root.string()));

  for (const fs::path& p : files) {
    const std::string name = p.filename().string();
    if (p.extension() == ".la" && IsLibtoolArchive(p)) {
      if (!fs::remove(p, ec) || ec) {
        return ErrnoStatus(ec.value(), absl::StrCat("remove ", p.string()));
      }
      names[name].erase(Rel(p.parent_path(), root));
      report.removed_files.push_back(Rel(p, display));
      continue;
    }
    if (p.extension() == ".pc" && p.parent_path().filename() == "pkgconfig") {
      SF_ASSIGN_OR_RETURN(std::string text, ReadFile(p));
      std::string root_from_dir = Rel(root, p.parent_path());
      std::string rewritten = RewritePkgConfig(text, root_from_dir, {options.install_prefix});
      if (rewritten != text) {
        SF_RETURN_IF_ERROR(WriteFileAtomic(p, rewritten, 0644));
        report.rewritten_pkgconfig.push_back(Rel(p, display));
      }
      continue;
    }
    SF_ASSIGN_OR_RETURN(std::optional<ElfInfo> info, ReadElfInfo(p));
    if (!info || !info->dynamic || (info->type != ET_EXEC && info->type != ET_DYN)) continue;
    elves.push_back({p, std::move(*info)});
  }

  std::set<std::string> lib_dirs;
  for (const DynamicElf& e : elves) {
    for (const std::string& needed : e.info.needed) {
      auto found = names.find(needed);
      if (found == names.end()) continue;
      for (const std::string& dir : found->second) {
        std::error_code ec2;
        if (fs::is_regular_file(root / dir / needed, ec2)) lib_dirs.insert(dir);
      }
    }
  }
  report.library_dirs.assign(lib_dirs.begin(), lib_dirs.end());
  report.dynamic_elf_files = static_cast<int>(elves.size());

  for (const DynamicElf& e : elves) {
    std::string want = RunpathFor(Rel(e.path.parent_path(), root), report.library_dirs);
    if (want.empty()) {
      if (!e.info.rpath && !e.info.runpath) continue;
      SF_RETURN_IF_ERROR(RunPatchelf(options.patchelf, {"--remove-rpath"}, e.path));
    } else {
      if (!e.info.rpath && e.info.runpath == want) continue;
      // patchelf leaves a DT_RPATH beside an existing DT_RUNPATH; drop both.
      if (e.info.rpath && e.info.runpath) {
        SF_RETURN_IF_ERROR(RunPatchelf(options.patchelf, {"--remove-rpath"}, e.path));
      }
      // Without --force-rpath patchelf writes DT_RUNPATH, converting a DT_RPATH.
      SF_RETURN_IF_ERROR(RunPatchelf(options.patchelf, {"--set-rpath", want}, e.path));
    }
    ++report.patched_elf_files;
  }
  return report;
}

}  // namespace sfactory::packaging
