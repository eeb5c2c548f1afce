// Makes an installed tree relocatable in place: every dynamic ELF gets an
// $ORIGIN-relative RUNPATH (through the `patchelf` program), libtool .la
// files go, and pkg-config files find their prefix through ${pcfiledir}.
// The audit (elf_audit.h) checks the result; Relocate itself does not judge.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sfactory::packaging {

struct RelocateOptions {
  // The prefix compiled in at build time (e.g. /opt/slurm/24.11). Where it
  // appears in a pkg-config file it becomes ${prefix}.
  std::string install_prefix;
  // The patchelf executable (looked up in the scrubbed PATH).
  std::string patchelf = "patchelf";
};

struct RelocationReport {
  // Directories (relative to the tree, '/'-separated, bytewise sorted) that
  // provide a DT_NEEDED of some ELF file in the tree: every RUNPATH lists them.
  std::vector<std::string> library_dirs;
  int dynamic_elf_files = 0;
  int patched_elf_files = 0;  // RUNPATH changed (others already had it)
  // Paths below the tree's parent ("software/lib/libfoo.la").
  std::vector<std::string> removed_files;
  std::vector<std::string> rewritten_pkgconfig;
};

// Relocates the tree rooted at `software_dir` (the directory holding bin/,
// lib/, ...). Dynamic ELF files (ET_EXEC/ET_DYN with a dynamic section) get
// DT_RUNPATH = RunpathFor(their directory); a DT_RPATH is replaced by it. When
// no library directory exists, RPATH/RUNPATH is removed. Static executables,
// objects and archives are left alone. Libtool archives (*.la written by
// libtool) are deleted. *.pc files in pkgconfig directories are rewritten
// with RewritePkgConfig. Errors: the tree cannot be read or written, or
// patchelf fails (Internal, with its output).
absl::StatusOr<RelocationReport> Relocate(const std::filesystem::path& software_dir,
                                          const RelocateOptions& options);

// The RUNPATH for a file in `file_dir` (relative to the tree): each library
// dir as a path relative to $ORIGIN, in the given order, ':'-separated.
// RunpathFor("bin", {"lib", "lib/slurm"}) == "$ORIGIN/../lib:$ORIGIN/../lib/slurm";
// RunpathFor("lib/slurm", {"lib", "lib/slurm"}) == "$ORIGIN/..:$ORIGIN".
std::string RunpathFor(const std::string& file_dir, const std::vector<std::string>& library_dirs);

// Rewrites one pkg-config file that lives `root_from_pcfiledir` (e.g.
// "../..") below the tree root: the `prefix=` line becomes
// "prefix=${pcfiledir}/<root_from_pcfiledir>", and every other occurrence of
// the old prefix value or of one of `prefixes` (whole path components only)
// becomes ${prefix}.
std::string RewritePkgConfig(absl::string_view content, absl::string_view root_from_pcfiledir,
                             const std::vector<std::string>& prefixes);

}  // namespace sfactory::packaging
