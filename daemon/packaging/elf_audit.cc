#include "daemon/packaging/elf_audit.h"

#include <elf.h>

#include <algorithm>
#include <optional>
#include <set>
#include <system_error>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/fs.h"
#include "common/status.h"
#include "daemon/packaging/elf_file.h"

namespace sfactory::packaging {
namespace {

namespace fs = std::filesystem;

bool IsWithin(const fs::path& p, const fs::path& root) {
  fs::path rel = p.lexically_relative(root);
  return !rel.empty() && *rel.begin() != "..";
}

// Expands a leading $ORIGIN / ${ORIGIN}; nullopt when the entry has none.
std::optional<fs::path> ExpandOrigin(absl::string_view entry, const fs::path& origin) {
  for (absl::string_view token : {"${ORIGIN}", "$ORIGIN"}) {
    if (absl::StartsWith(entry, token)) {
      absl::string_view rest = entry.substr(token.size());
      if (!rest.empty() && rest[0] != '/') return std::nullopt;  // "$ORIGINfoo"
      return (origin / std::string(rest.empty() ? "." : rest.substr(1))).lexically_normal();
    }
  }
  return std::nullopt;
}

struct Auditor {
  fs::path root;       // the software dir, canonical
  fs::path display;    // its parent: findings are named relative to it
  std::set<std::string> baseline;
  std::vector<std::string> forbidden;
  AuditReport report;
  std::set<std::string> resolved;

  std::string Name(const fs::path& p) const { return p.lexically_relative(display).generic_string(); }

  void Add(const fs::path& p, std::string problem) {
    report.findings.push_back({Name(p), std::move(problem)});
  }

  // Checks one RPATH/RUNPATH value and returns the directories inside the
  // tree that it makes ld.so search.
  std::vector<fs::path> CheckPath(const fs::path& file, absl::string_view tag,
                                  const std::string& value) {
    std::vector<fs::path> dirs;
    for (absl::string_view entry : absl::StrSplit(value, ':')) {
      if (entry.empty()) {
        Add(file, absl::StrCat("empty ", tag, " entry (searches the working directory)"));
        continue;
      }
      std::optional<fs::path> dir = ExpandOrigin(entry, file.parent_path());
      if (!dir) {
        Add(file, absl::StrCat(entry[0] == '/' ? "absolute " : "non-$ORIGIN ", tag, " entry ",
                               entry));
        continue;
      }
      if (!IsWithin(*dir, root)) {
        Add(file, absl::StrCat(tag, " entry ", entry, " leaves the package"));
        continue;
      }
      dirs.push_back(*dir);
    }
    return dirs;
  }

  bool ResolvesInTree(const std::vector<fs::path>& dirs, const std::string& soname) {
    for (const fs::path& dir : dirs) {
      std::error_code ec;
      fs::path candidate = dir / soname;
      if (!fs::is_regular_file(candidate, ec)) continue;  // follows symlinks
      fs::path real = fs::canonical(candidate, ec);
      if (!ec && IsWithin(real, root)) return true;
    }
    return false;
  }

  absl::Status AuditElf(const fs::path& file) {
    SF_ASSIGN_OR_RETURN(std::optional<ElfInfo> info, ReadElfInfo(file));
    if (!info) return absl::OkStatus();
    ++report.elf_files;
    if (!info->dynamic || (info->type != ET_EXEC && info->type != ET_DYN)) {
      return absl::OkStatus();
    }
    std::vector<fs::path> rpath_dirs, runpath_dirs;
    if (info->rpath) rpath_dirs = CheckPath(file, "RPATH", *info->rpath);
    if (info->runpath) runpath_dirs = CheckPath(file, "RUNPATH", *info->runpath);
    const std::vector<fs::path>& search = info->runpath ? runpath_dirs : rpath_dirs;
    for (const std::string& needed : info->needed) {
      if (needed.find('/') != std::string::npos) {
        Add(file, absl::StrCat("DT_NEEDED ", needed, " is a path"));
        continue;
      }
      if (ResolvesInTree(search, needed)) {
        resolved.insert(needed);
        continue;
      }
      if (baseline.count(needed)) continue;
      const std::string how = info->runpath ? absl::StrCat("RUNPATH ", *info->runpath)
                              : info->rpath ? absl::StrCat("RPATH ", *info->rpath)
                                            : std::string("no RUNPATH");
      Add(file, absl::StrCat("DT_NEEDED ", needed,
                             " resolves neither inside the package (", how,
                             ") nor to the system baseline"));
    }
    return absl::OkStatus();
  }

  absl::Status AuditPkgConfig(const fs::path& file) {
    SF_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
    int line_no = 0;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      ++line_no;
      for (const std::string& bad : forbidden) {
        if (!bad.empty() && absl::StrContains(line, bad)) {
          Add(file, absl::StrCat("pkg-config line ", line_no, " refers to build path ", bad));
        }
      }
    }
    return absl::OkStatus();
  }
};

}  // namespace

const std::vector<std::string>& DefaultBaselineSonames() {
  static const std::vector<std::string> kBaseline = {
      "ld-linux-aarch64.so.1", "ld-linux-x86-64.so.2", "libanl.so.1",   "libc.so.6",
      "libdl.so.2",            "libgcc_s.so.1",        "libm.so.6",     "libmvec.so.1",
      "libpthread.so.0",       "libresolv.so.2",       "librt.so.1",    "libstdc++.so.6",
      "libutil.so.1",          "linux-vdso.so.1",
  };
  return kBaseline;
}

absl::StatusOr<AuditReport> AuditTree(const fs::path& software_dir, const AuditOptions& options) {
  std::error_code ec;
  Auditor a;
  a.root = fs::canonical(software_dir, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("resolve ", software_dir.string()));
  a.display = a.root.parent_path();
  const auto& baseline =
      options.baseline_sonames.empty() ? DefaultBaselineSonames() : options.baseline_sonames;
  a.baseline.insert(baseline.begin(), baseline.end());
  a.forbidden = options.forbidden_paths;

  fs::recursive_directory_iterator it(a.root, fs::directory_options::none, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    const fs::path& p = it->path();
    if (p.extension() == ".pc" && p.parent_path().filename() == "pkgconfig") {
      SF_RETURN_IF_ERROR(a.AuditPkgConfig(p));
      continue;
    }
    SF_RETURN_IF_ERROR(a.AuditElf(p));
  }
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("walk ", software_dir.string()));

  AuditReport report = std::move(a.report);
  std::sort(report.findings.begin(), report.findings.end(), [](const Finding& x, const Finding& y) {
    return std::tie(x.file, x.problem) < std::tie(y.file, y.problem);
  });
  report.resolved_in_tree.assign(a.resolved.begin(), a.resolved.end());
  report.baseline.assign(a.baseline.begin(), a.baseline.end());
  report.ok = report.findings.empty();
  return report;
}

}  // namespace sfactory::packaging
