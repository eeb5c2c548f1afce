// Installing a build's release files onto a shared filesystem, the way
// `sfactory install` does it. No daemon is needed here: the caller hands
// over a directory that holds the files (fetched, or given with --from).
//
//   <prefix>/<version>-<digest12>/     the software tree (bin/ sbin/ lib/ ...)
//   <prefix>/<version> -> <version>-<digest12>     switched last, atomically
//   <lmod_dir>/<package>/<version>.lua  the Lmod module
//   <tcl_dir>/<package>/<version>       the Tcl modulefile
//
// The module files are the build's own, with their one `recorded` line
// rewritten to name <prefix>/<version>-<digest12>, so a module loaded
// without SLURM_INSTALL_PREFIX uses that directory.
//
// Order, so that a failure leaves the previous install (its directory,
// module files and symlink) as it was:
//   1. verify every file: SHA256SUMS, the manifest, the Build when known;
//   2. extract into <prefix>/.<version>-<digest12>.tmp-XXXXXX, check the
//      tree against the manifest's tree digest, rename it into place;
//   3. write each module file to a temp file, then rename them over;
//   4. switch the symlink (symlink to a temp name + rename(2)).
// A failure in 3 or 4 puts back the module files already renamed. The new
// directory of 2 stays (complete and verified; a rerun continues with it).
// No install ever removes a <version>-<digest12> directory: jobs may still
// run from it.
//
// Install may run on any thread. Two installs into one prefix at once are
// serialised by an flock on <prefix>/.sfactory-install.lock; the second
// fails with FAILED_PRECONDITION instead of waiting. Holding it, an install
// removes the staging dirs and temp links a killed install left behind.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/env.h"
#include "sfactory/v1/manifest.pb.h"
#include "sfactory/v1/sfactory.pb.h"

namespace sfactory::client {

enum class InstallMode { kApply, kDryRun };

struct InstallRequest {
  // Holds SHA256SUMS, manifest.json and the software and module tarballs.
  std::filesystem::path artifacts_dir;
  // Made absolute (relative to the working directory) and normal.
  std::filesystem::path prefix;
  // Where the Lmod and the Tcl module go; empty = not installed. At least
  // one must be given.
  std::filesystem::path lmod_dir;
  std::filesystem::path tcl_dir;
  InstallMode mode = InstallMode::kApply;
  // The build as the daemon reports it, when the files were fetched from
  // it: the manifest must carry its digest and every artifact it lists must
  // be in artifacts_dir with its sha256.
  std::optional<v1::Build> build;
  // The build the caller asked for, e.g. the id given with --from; the
  // manifest's build id must be this one when it is not empty.
  std::string expected_build_id;
  // File writes and renames go through it (Env::Default() when null).
  Env* env = nullptr;
};

enum class InstallActionKind {
  kCreateDir,    // extract the software into path
  kKeepDir,      // path is already there with the right content
  kWriteModule,  // write path (detail: "new" or "replace")
  kKeepModule,   // path already has the right content
  kSwitchLink,   // point path at detail (the previous target in InstallReport)
  kKeepLink,     // path already points at detail
};

// "create_dir", "keep_dir", ... (the JSON names).
absl::string_view ActionName(InstallActionKind kind);

struct InstallAction {
  InstallActionKind kind;
  std::filesystem::path path;
  std::string detail;
};

struct InstallReport {
  std::string build_id;
  std::string package;
  std::string version;
  std::string digest;
  std::filesystem::path install_dir;
  std::filesystem::path link;
  // What the link pointed at before; empty when there was no link.
  std::string previous_target;
  // In the order they are (or, in a dry run, would be) carried out.
  std::vector<InstallAction> actions;
  InstallMode mode = InstallMode::kApply;
  // False when everything was already in place (a no-op).
  bool changed = false;
};

// Verifies, then installs (kApply) or only plans (kDryRun: nothing under
// the prefix or the module dirs changes; the module tarball is read in a
// temp dir under $TMPDIR). Errors, each saying what to do:
//   DATA_LOSS: a file does not match SHA256SUMS, the manifest or the Build;
//     the extracted tree does not match the manifest's tree digest;
//   NOT_FOUND: a release file is missing from artifacts_dir;
//   INVALID_ARGUMENT: no module dir given, a path a module file cannot
//     hold, files of another build than expected_build_id;
//   FAILED_PRECONDITION: <prefix>/<version> is not a symlink, the install
//     dir exists with other content, a module file lacks exactly one
//     `recorded` line, another install holds the prefix's lock;
//   PERMISSION_DENIED: the prefix or a module dir is not writable;
//   others from the filesystem (RESOURCE_EXHAUSTED for a full disk).
absl::StatusOr<InstallReport> Install(const InstallRequest& request);

// The lines a person reads: what was done, or what a dry run would do.
std::string DescribeInstall(const InstallReport& report);

enum class ModuleFlavor { kLmod, kTcl };

// Replaces the one `local recorded = "..."` (Lmod) or `set recorded {...}`
// (Tcl) line of a module file by one that names `root`. FAILED_PRECONDITION
// unless exactly one line starts with `local recorded` / `set recorded` and
// has that form; INVALID_ARGUMENT when `root` holds characters that the
// module file cannot carry (anything but [A-Za-z0-9._/+:,=-]).
absl::StatusOr<std::string> RewriteRecordedPrefix(absl::string_view text, ModuleFlavor flavor,
                                                  absl::string_view root);

// What a release directory holds, once VerifyRelease has checked it.
struct VerifiedRelease {
  v1::Manifest manifest;
  std::filesystem::path software_tarball;
  std::filesystem::path module_tarball;
};

// Step 1 alone (Install calls it): every file SHA256SUMS lists has that
// sha256; manifest.json is listed and names one software and one module
// artifact, both listed with the same sha256; with `build`, the digests
// agree with it. Errors as for Install.
absl::StatusOr<VerifiedRelease> VerifyRelease(const std::filesystem::path& dir,
                                              const std::optional<v1::Build>& build);

}  // namespace sfactory::client
