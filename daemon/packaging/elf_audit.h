// The relocation audit: proves that a package tree runs from wherever it is
// extracted. It reads every ELF file (through elf_file.h) and every
// pkg-config file below the tree and reports what would break after a move.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sfactory::packaging {

// Sonames every supported target system provides, so a package never
// bundles them: glibc's libraries and loaders (x86_64 and aarch64) plus
// libgcc_s and libstdc++, which every Linux with a C++ runtime has and whose
// newer versions stay backward compatible. libnsl (no longer part of glibc)
// and libcrypt (libxcrypt) are not in it: packages bundle them.
const std::vector<std::string>& DefaultBaselineSonames();

struct AuditOptions {
  // Sonames allowed to resolve outside the package. Empty = the default.
  std::vector<std::string> baseline_sonames;
  // Strings that must not appear in pkg-config files (the build-time
  // prefix, build-instance paths such as "/sf/").
  std::vector<std::string> forbidden_paths;
};

struct Finding {
  std::string file;     // path below the tree's parent, e.g. "software/bin/srun"
  std::string problem;  // one line
};

struct AuditReport {
  bool ok = false;  // no findings
  int elf_files = 0;
  std::vector<Finding> findings;           // sorted by file, then problem
  std::vector<std::string> resolved_in_tree;  // sorted sonames needed and found inside
  std::vector<std::string> baseline;          // the baseline that was applied
};

// Audits the tree rooted at `software_dir`. Findings, for dynamic ELF files
// (ET_EXEC/ET_DYN with a dynamic section; static executables, objects and
// archives are counted but not judged):
//   - an RPATH or RUNPATH entry that does not start with $ORIGIN (absolute,
//     relative to the working directory, or empty), or that leaves the tree
//     after $ORIGIN is expanded;
//   - a DT_NEEDED that is a path, or that resolves neither through the
//     file's own search path inside the tree nor to a baseline soname. As in
//     ld.so, the search path is DT_RUNPATH, or DT_RPATH when there is no
//     RUNPATH; a library another object already loaded does not count.
// and for *.pc files in pkgconfig directories: a line holding a forbidden
// path. Errors (not findings): an unreadable tree or a file libelf cannot
// parse.
absl::StatusOr<AuditReport> AuditTree(const std::filesystem::path& software_dir,
                                      const AuditOptions& options = {});

}  // namespace sfactory::packaging
