// The one call the build runner makes after pulling $SF_OUT/tree.tar out of
// the build instance: tree.tar in, the four release files out.
//
//   <name>-<ver>-<recipe>-<os>-<arch>-software.tar.zst (or .tar.gz)
//       manifest.json, software/{bin,sbin,lib,lib/slurm,include,share}
//   <name>-<ver>-<recipe>-<os>-<arch>-module.tar.gz
//       modules/<name>/<ver>.lua (Lmod), modulefiles/<name>/<ver> (Tcl)
//   manifest.json   (lists the archives' sha256 and sizes)
//   SHA256SUMS      (sha256sum -c format: both archives and manifest.json)
//
// Package may run on any thread; concurrent calls need distinct work_dir
// and out_dir.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/packaging/archive.h"
#include "daemon/packaging/elf_audit.h"
#include "daemon/packaging/relocate.h"
#include "sfactory/v1/manifest.pb.h"
#include "sfactory/v1/sfactory.pb.h"

namespace sfactory::packaging {

struct PackageRequest {
  // Plain tar; every entry under "software/" (docs/RECIPES.md).
  std::filesystem::path tree_tar;
  // Scratch directory (exists, empty); the caller removes it afterwards.
  std::filesystem::path work_dir;
  // Artifacts are written here (exists).
  std::filesystem::path out_dir;
  // Directory with <package_name>.lua.in and .tcl.in (installed at
  // share/sfactory/modules).
  std::filesystem::path module_templates_dir;
  std::string package_name = "slurm";
  v1::BuildSpec spec;  // normalised: slurm_version "24.11.5", recipe, os, arch set
  std::string build_id;
  std::string digest;
  // Prefix compiled in at build time, e.g. /opt/slurm/24.11: the module's
  // fallback software root and a forbidden string in pkg-config files.
  std::string install_prefix;
  Compression compression = Compression::kZstd;
  int64_t source_date_epoch = 0;  // mtime of every archive entry
  std::vector<v1::PhaseTiming> phases;
  std::vector<v1::Source> sources;  // recorded in the manifest
  // Empty = DefaultBaselineSonames().
  std::vector<std::string> baseline_sonames;
  // Paths of the build instance that must not survive in pkg-config files.
  std::vector<std::string> build_paths = {"/sf/"};
};

struct PackagedFile {
  std::filesystem::path path;
  std::string kind;  // "software", "module", "manifest", "checksums"
  std::string sha256;
  uint64_t size = 0;
};

struct PackageResult {
  std::vector<PackagedFile> files;  // in the order above
  AuditReport audit;
  RelocationReport relocation;
  v1::Manifest manifest;  // the standalone one
};

// "<name>-<ver>-<recipe>-<os>-<arch>"; InvalidArgument when a part is empty
// or holds a '/'.
absl::StatusOr<std::string> ArtifactBaseName(const std::string& package_name,
                                             const v1::BuildSpec& spec);

// Extracts tree.tar safely (archive.h), relocates (relocate.h), audits
// (elf_audit.h), writes both archives, manifest.json and SHA256SUMS into
// out_dir. Progress, each audit finding and timings go to `log`, one line
// per call. Errors: InvalidArgument for an unsafe or malformed tree.tar or
// request; FailedPrecondition when the audit finds problems (the message
// names every file and problem); others from the filesystem, patchelf or
// libarchive. On error no artifact is left in out_dir.
absl::StatusOr<PackageResult> Package(const PackageRequest& request,
                                      const std::function<void(absl::string_view)>& log);

}  // namespace sfactory::packaging
