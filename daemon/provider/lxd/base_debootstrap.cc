// Building a base with debootstrap: a minbase root filesystem, the recipe's
// packages installed with apt in a chroot, slimmed and imported into LXD.
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/status.h"
#include "common/subprocess.h"
#include "daemon/provider/lxd/base_pool.h"
#include "daemon/provider/lxd/base_pool_internal.h"

namespace sfactory::provider::lxd {
using base_internal::Now;
using base_internal::Say;

namespace {

std::string SuiteFor(const std::string& os) {
  if (os == "debian-11") return "bullseye";
  if (os == "debian-12") return "bookworm";
  if (os == "debian-13") return "trixie";
  return "";
}

std::string DebArch(const std::string& arch) {
  if (arch == "x86_64") return "amd64";
  if (arch == "aarch64" || arch == "arm64") return "arm64";
  if (arch == "ppc64le") return "ppc64el";
  return arch;
}

// Runs argv with its output going to `log` as it comes; SIGKILLs it on cancel.
absl::StatusOr<int> RunLogged(const std::vector<std::string>& argv, OutputSink& log,
                              CancelToken& cancel) {
  SubprocessOptions opts;
  opts.argv = argv;
  opts.env = ScrubbedEnv({"DEBIAN_FRONTEND=noninteractive"});
  RunToSinkOptions run;
  run.cancel = &cancel;  // no kill grace: SIGKILL at once
  return RunToSink(std::move(opts), WriteTo(log), run);
}

absl::Status StripDocumentation(const std::filesystem::path& rootfs) {
  for (const char* dir :
       {"usr/share/man", "usr/share/info", "usr/share/locale", "var/lib/apt/lists"}) {
    SF_RETURN_IF_ERROR(RemoveAll(rootfs / dir));
    SF_RETURN_IF_ERROR(MakeDirs(rootfs / dir));
  }
  SF_RETURN_IF_ERROR(MakeDirs(rootfs / "var/lib/apt/lists/partial"));
  std::error_code ec;
  std::vector<std::filesystem::path> doomed;
  for (auto it = std::filesystem::recursive_directory_iterator(rootfs / "usr/share/doc", ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec) && it->path().filename() != "copyright") doomed.push_back(it->path());
  }
  if (ec) return absl::InternalError(absl::StrCat("scan usr/share/doc: ", ec.message()));
  for (const auto& path : doomed) SF_RETURN_IF_ERROR(RemoveAll(path));
  // Packages installed later (image_source bases, recipes) stay slim too.
  return WriteFileAtomic(rootfs / "etc/dpkg/dpkg.cfg.d/sfactory-slim",
                         "path-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\n"
                         "path-exclude=/usr/share/locale/*\npath-exclude=/usr/share/doc/*\n"
                         "path-include=/usr/share/doc/*/copyright\n");
}

}  // namespace

absl::Status BasePool::InstallPackages(const std::filesystem::path& rootfs,
                                       const BaseDefinition& base, OutputSink& log,
                                       CancelToken& cancel) {
  // No service may start inside the chroot (munge's postinst would try).
  std::filesystem::path policy = rootfs / "usr/sbin/policy-rc.d";
  SF_RETURN_IF_ERROR(WriteFileAtomic(policy, "#!/bin/sh\nexit 101\n", 0755));
  std::string proc = (rootfs / "proc").string();
  bool mounted = RunLogged({"mount", "-t", "proc", "proc", proc}, log, cancel).value_or(1) == 0;
  std::vector<std::string> install = {
      "chroot",  rootfs.string(), "env", "DEBIAN_FRONTEND=noninteractive",
      "apt-get", "install",       "-y",  "--no-install-recommends"};
  install.insert(install.end(), base.packages.begin(), base.packages.end());
  absl::Status status;
  for (const auto& argv :
       {std::vector<std::string>{"chroot", rootfs.string(), "apt-get", "update"}, install}) {
    Say(log, absl::StrCat("$ ", absl::StrJoin(argv, " ")));
    absl::StatusOr<int> rc = RunLogged(argv, log, cancel);
    if (!rc.ok()) {
      status = rc.status();
      break;
    }
    if (*rc != 0) {
      status = absl::FailedPreconditionError(
          absl::StrCat("lxd: installing the packages of base ", base.Alias(),
                       " failed with exit code ", *rc, " (is ", options_.debian_mirror,
                       " reachable? is every package name right? see the "
                       "log above)"));
      break;
    }
  }
  if (mounted) (void)RunLogged({"umount", "-l", proc}, log, cancel);
  (void)RemoveAll(policy);
  SF_RETURN_IF_ERROR(RemoveAll(rootfs / "var/lib/apt/lists"));
  SF_RETURN_IF_ERROR(MakeDirs(rootfs / "var/lib/apt/lists/partial"));
  return status;
}

absl::StatusOr<std::string> BasePool::BuildWithDebootstrap(const BaseDefinition& base,
                                                           OutputSink& log, CancelToken& cancel) {
  std::string suite = SuiteFor(base.os);
  if (suite.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "lxd: no debootstrap suite for os '", base.os,
        "' (known: debian-11, debian-12, debian-13); set lxd.image_source to an LXD image"));
  }
  if (::geteuid() != 0) {
    return absl::FailedPreconditionError(
        "lxd: building a base image with debootstrap needs root; run sfactoryd as root or set "
        "lxd.image_source to an LXD image alias");
  }
  std::filesystem::path cache = work_dir_ / "debootstrap-cache";
  SF_RETURN_IF_ERROR(MakeDirs(cache));
  SF_RETURN_IF_ERROR(MakeDirs(work_dir_ / "tmp"));
  SF_ASSIGN_OR_RETURN(TempDir tmp, TempDir::Create("base-", work_dir_ / "tmp"));
  std::filesystem::path rootfs = tmp.path() / "rootfs";

  // debootstrap lays down minbase only: its --include cannot resolve and
  // configure larger package sets (the native recipe's -dev libraries fail
  // in libltdl-dev). apt inside the chroot installs the recipe's packages.
  std::vector<std::string> include = {"systemd-sysv"};
  std::vector<std::string> argv = {"debootstrap",
                                   "--variant=minbase",
                                   "--arch=" + DebArch(base.arch),
                                   "--cache-dir=" + cache.string(),
                                   "--include=" + absl::StrJoin(include, ","),
                                   suite,
                                   rootfs.string(),
                                   options_.debian_mirror};
  Say(log, absl::StrCat("$ ", absl::StrJoin(argv, " ")));
  absl::StatusOr<int> rc = RunLogged(argv, log, cancel);
  if (!rc.ok()) {
    if (absl::IsNotFound(rc.status())) {
      return absl::FailedPreconditionError(
          "lxd: debootstrap is not installed: `apt-get install debootstrap` (scripts/lxd-setup.sh "
          "installs it)");
    }
    return rc.status();
  }
  if (*rc != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("lxd: debootstrap for base ", base.Alias(), " failed with exit code ", *rc,
                     " (is ", options_.debian_mirror, " reachable? see the log above)"));
  }

  if (!base.packages.empty()) {
    SF_RETURN_IF_ERROR(InstallPackages(rootfs, base, log, cancel));
  }

  // Provisioning: the fixed layout, no package archives, a record of what it is.
  for (const char* dir : {"sf/work/.phases", "sf/out", "sf/cache/sources", "sf/cache/ccache"}) {
    SF_RETURN_IF_ERROR(MakeDirs(rootfs / dir));
  }
  SF_RETURN_IF_ERROR(RemoveAll(rootfs / "var/cache/apt/archives"));
  SF_RETURN_IF_ERROR(MakeDirs(rootfs / "var/cache/apt/archives/partial"));
  // Every build copies the base: a third fewer files makes that copy a third
  // cheaper on the dir backend. Copyright files stay (packaging may ship them).
  SF_RETURN_IF_ERROR(StripDocumentation(rootfs));
  SF_RETURN_IF_ERROR(RemoveAll(rootfs / "etc/hostname"));
  SF_RETURN_IF_ERROR(WriteFileAtomic(
      rootfs / "etc/sfactory-base",
      absl::StrCat("digest=", base.digest, "\nos=", base.os, "\narch=", base.arch, "\npackages=",
                   absl::StrJoin(base.packages, " "), "\nprovision=", kProvisionVersion, "\n")));

  int64_t now = Now();
  std::string metadata =
      absl::StrCat("architecture: ", base.arch, "\ncreation_date: ", now, "\nproperties:\n");
  for (const auto& [key, value] : base_internal::BaseProperties(base, now)) {
    absl::StrAppend(&metadata, "  ", key, ": \"", value, "\"\n");
  }
  SF_RETURN_IF_ERROR(WriteFileAtomic(tmp.path() / "metadata.yaml", metadata));

  std::filesystem::path tarball = tmp.path() / "image.tar";
  Say(log, "packing the root filesystem");
  SF_ASSIGN_OR_RETURN(
      int tar_rc, RunLogged({"tar", "--numeric-owner", "--xattrs", "-cf", tarball.string(), "-C",
                             tmp.path().string(), "metadata.yaml", "rootfs"},
                            log, cancel));
  if (tar_rc != 0) return absl::InternalError(absl::StrCat("tar exited with ", tar_rc));
  SF_RETURN_IF_ERROR(RemoveAll(rootfs));
  if (cancel.cancelled()) return absl::CancelledError("base image build cancelled");

  Say(log, absl::StrCat("importing ", base.Alias(), " into LXD"));
  std::string what = absl::StrCat("import base ", base.Alias());
  SF_ASSIGN_OR_RETURN(LxdOperation op,
                      client_.UploadAsync("/1.0/images", {tarball, {"X-LXD-public: false"}}, what));
  SF_ASSIGN_OR_RETURN(LxdOperation done, client_.Wait(op.id, op_timeout_, what));
  std::string fp = done.metadata.is_object() ? done.metadata.value("fingerprint", "") : "";
  if (fp.empty()) {
    return absl::InternalError(
        absl::StrCat("lxd: ", what, ": no fingerprint in ", done.metadata.dump()));
  }
  return fp;
}

}  // namespace sfactory::provider::lxd
