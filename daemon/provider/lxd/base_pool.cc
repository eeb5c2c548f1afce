#include "daemon/provider/lxd/base_pool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/status.h"
#include "common/subprocess.h"
#include "daemon/provider/lxd/lxd_instance.h"

namespace sfactory::provider::lxd {
namespace {

constexpr char kDigestKey[] = "sfactory.digest";
constexpr char kCreatedKey[] = "sfactory.created_at";

void Say(OutputSink& log, absl::string_view line) { log.Write(absl::StrCat("sfactory: ", line, "\n")); }

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
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  Fd read_end(p[0]), write_end(p[1]);
  SubprocessOptions opts;
  opts.argv = argv;
  opts.env = ScrubbedEnv({"DEBIAN_FRONTEND=noninteractive"});
  opts.output_fd = write_end.get();
  SF_ASSIGN_OR_RETURN(Subprocess child, Subprocess::Start(opts));
  write_end.Reset();
  bool killed = false;
  char buf[16384];
  for (;;) {
    if (!killed && cancel.cancelled()) {
      child.SignalGroup(SIGKILL);
      killed = true;
    }
    pollfd pfd{read_end.get(), POLLIN, 0};
    int r = ::poll(&pfd, 1, 500);
    if (r < 0 && errno != EINTR) return ErrnoStatus(errno, "poll");
    if (r <= 0) continue;
    ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read child output");
    }
    if (n == 0) break;
    log.Write(absl::string_view(buf, n));
  }
  SF_ASSIGN_OR_RETURN(int rc, child.Wait());
  if (killed) return absl::CancelledError(absl::StrCat(argv[0], ": cancelled"));
  return rc;
}

int64_t Now() { return absl::ToUnixSeconds(absl::Now()); }

absl::Status StripDocumentation(const std::filesystem::path& rootfs) {
  for (const char* dir : {"usr/share/man", "usr/share/info", "usr/share/locale", "var/lib/apt/lists"}) {
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

std::string BaseDefinition::Alias() const { return "sfactory-base-" + digest.substr(0, 12); }

BaseDefinition DefineBase(const v1::BuildSpec& spec, const std::vector<std::string>& packages,
                          const LxdOptions& options) {
  BaseDefinition b;
  b.os = spec.os().empty() ? "debian-12" : spec.os();
  b.arch = spec.arch().empty() ? "x86_64" : spec.arch();
  b.recipe = spec.recipe();
  std::set<std::string> sorted(packages.begin(), packages.end());
  sorted.erase("");
  b.packages.assign(sorted.begin(), sorted.end());
  b.source = options.image_source.empty() ? "debootstrap" : "image:" + options.image_source;
  b.digest = Sha256Hex(absl::StrCat("sfactory-base\nos=", b.os, "\narch=", b.arch,
                                    "\nsource=", b.source, "\npackages=",
                                    absl::StrJoin(b.packages, ","),
                                    "\nprovision=", kProvisionVersion, "\n"));
  return b;
}

BasePool::BasePool(LxdClient& client, const LxdOptions& options, std::filesystem::path work_dir)
    : client_(client),
      options_(options),
      work_dir_(std::move(work_dir)),
      op_timeout_(options.operation_timeout_seconds) {}

int BasePool::creations() const {
  absl::MutexLock lock(&mu_);
  return creations_;
}

bool BasePool::Building(const std::string& digest) const {
  absl::MutexLock lock(&mu_);
  return building_.count(digest) > 0;
}

absl::Status BasePool::Acquire(const BaseDefinition& base, CancelToken& cancel) {
  absl::MutexLock lock(&mu_);
  auto free = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return building_.count(base.digest) == 0;
  };
  while (!free()) {
    if (cancel.cancelled()) {
      return absl::CancelledError(absl::StrCat("waiting for base image ", base.Alias(),
                                               ": cancelled"));
    }
    mu_.AwaitWithTimeout(absl::Condition(&free), absl::Seconds(1));
  }
  building_.emplace(base.digest, base);
  return absl::OkStatus();
}

void BasePool::Release(const std::string& digest) {
  absl::MutexLock lock(&mu_);
  building_.erase(digest);
}

absl::StatusOr<std::string> BasePool::FindReady(const BaseDefinition& base) {
  absl::StatusOr<Json> alias = client_.Sync("GET", absl::StrCat("/1.0/images/aliases/", base.Alias()),
                                            Json(), absl::StrCat("look up base ", base.Alias()));
  if (!alias.ok()) return alias.status();
  std::string fp = alias->value("target", "");
  SF_ASSIGN_OR_RETURN(Json image, client_.Sync("GET", absl::StrCat("/1.0/images/", fp), Json(),
                                               absl::StrCat("read base ", base.Alias())));
  v1::BaseImage d = Describe(image);
  if (d.digest() != base.digest) {
    return absl::NotFoundError(absl::StrCat("alias ", base.Alias(), " points at another image"));
  }
  if (d.state() == "expired") {
    return absl::NotFoundError(absl::StrCat("base ", base.Alias(), " has expired"));
  }
  return fp;
}

absl::StatusOr<std::string> BasePool::Ensure(const BaseDefinition& base,
                                             const std::string& storage_pool, OutputSink& log,
                                             CancelToken& cancel) {
  // Fast path: no lock while the base is there.
  absl::StatusOr<std::string> ready = FindReady(base);
  if (ready.ok() || !absl::IsNotFound(ready.status())) return ready;
  if (Building(base.digest)) {
    Say(log, absl::StrCat("waiting for base image ", base.Alias(), ", which another build is creating"));
  }
  SF_RETURN_IF_ERROR(Acquire(base, cancel));
  ready = FindReady(base);
  if (ready.ok() || !absl::IsNotFound(ready.status())) {
    Release(base.digest);
    return ready;
  }
  absl::StatusOr<std::string> fp = Build(base, storage_pool, log, cancel);
  Release(base.digest);
  return fp;
}

absl::StatusOr<v1::BaseImage> BasePool::Rebuild(const BaseDefinition& base,
                                                const std::string& storage_pool, OutputSink& log,
                                                CancelToken& cancel) {
  SF_RETURN_IF_ERROR(Acquire(base, cancel));
  absl::StatusOr<std::string> fp = Build(base, storage_pool, log, cancel);
  Release(base.digest);
  if (!fp.ok()) return fp.status();
  SF_ASSIGN_OR_RETURN(Json image, client_.Sync("GET", absl::StrCat("/1.0/images/", *fp), Json(),
                                               absl::StrCat("read base ", base.Alias())));
  return Describe(image);
}

absl::StatusOr<std::string> BasePool::Build(const BaseDefinition& base,
                                            const std::string& storage_pool, OutputSink& log,
                                            CancelToken& cancel) {
  auto start = absl::Now();
  Say(log, absl::StrCat("building base image ", base.Alias(), " (", base.os, " ", base.arch,
                        "; packages: ", base.packages.empty() ? "-" : absl::StrJoin(base.packages, " "),
                        "; source: ", base.source, ")"));
  absl::StatusOr<std::string> fp = base.source == "debootstrap"
                                       ? BuildWithDebootstrap(base, log, cancel)
                                       : BuildFromImage(base, storage_pool, log, cancel);
  if (!fp.ok()) return fp.status();
  SF_RETURN_IF_ERROR(PointAlias(base, *fp));
  {
    absl::MutexLock lock(&mu_);
    ++creations_;
  }
  // Older images of the same digest are superseded now.
  absl::StatusOr<Json> images = client_.Sync("GET", "/1.0/images?recursion=1", Json(), "list images");
  if (images.ok() && images->is_array()) {
    for (const Json& image : *images) {
      std::string other = image.value("fingerprint", "");
      if (other != *fp && Describe(image).digest() == base.digest) (void)DeleteImage(other);
    }
  }
  Say(log, absl::StrCat("base image ", base.Alias(), " ready (", fp->substr(0, 12), ") in ",
                        absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Seconds(1)))));
  return fp;
}

absl::Status BasePool::InstallPackages(const std::filesystem::path& rootfs,
                                       const BaseDefinition& base, OutputSink& log,
                                       CancelToken& cancel) {
  // No service may start inside the chroot (munge's postinst would try).
  std::filesystem::path policy = rootfs / "usr/sbin/policy-rc.d";
  SF_RETURN_IF_ERROR(WriteFileAtomic(policy, "#!/bin/sh\nexit 101\n", 0755));
  std::string proc = (rootfs / "proc").string();
  bool mounted = RunLogged({"mount", "-t", "proc", "proc", proc}, log, cancel).value_or(1) == 0;
  std::vector<std::string> install = {"chroot", rootfs.string(), "env",
                                      "DEBIAN_FRONTEND=noninteractive", "apt-get", "install",
                                      "-y", "--no-install-recommends"};
  install.insert(install.end(), base.packages.begin(), base.packages.end());
  absl::Status status;
  for (const auto& argv : {std::vector<std::string>{"chroot", rootfs.string(), "apt-get", "update"},
                           install}) {
    Say(log, absl::StrCat("$ ", absl::StrJoin(argv, " ")));
    absl::StatusOr<int> rc = RunLogged(argv, log, cancel);
    if (!rc.ok()) {
      status = rc.status();
      break;
    }
    if (*rc != 0) {
      status = absl::FailedPreconditionError(absl::StrCat(
          "lxd: installing the packages of base ", base.Alias(), " failed with exit code ", *rc,
          " (is ", options_.debian_mirror, " reachable? is every package name right? see the "
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
    return absl::FailedPreconditionError(absl::StrCat(
        "lxd: debootstrap for base ", base.Alias(), " failed with exit code ", *rc,
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
      absl::StrCat("digest=", base.digest, "\nos=", base.os, "\narch=", base.arch,
                   "\npackages=", absl::StrJoin(base.packages, " "), "\nprovision=",
                   kProvisionVersion, "\n")));

  int64_t now = Now();
  std::string metadata = absl::StrCat(
      "architecture: ", base.arch, "\ncreation_date: ", now,
      "\nproperties:\n  description: \"sfactory base ", base.os, " ", base.arch, " ",
      base.digest.substr(0, 12), "\"\n  os: \"", base.os, "\"\n  architecture: \"", base.arch,
      "\"\n  ", kDigestKey, ": \"", base.digest, "\"\n  ", kCreatedKey, ": \"", now,
      "\"\n  sfactory.recipe: \"", base.recipe, "\"\n  sfactory.packages: \"",
      absl::StrJoin(base.packages, " "), "\"\n  sfactory.source: \"", base.source,
      "\"\n  sfactory.provision: \"", kProvisionVersion, "\"\n");
  SF_RETURN_IF_ERROR(WriteFileAtomic(tmp.path() / "metadata.yaml", metadata));

  std::filesystem::path tarball = tmp.path() / "image.tar";
  Say(log, "packing the root filesystem");
  SF_ASSIGN_OR_RETURN(int tar_rc, RunLogged({"tar", "--numeric-owner", "--xattrs", "-cf",
                                             tarball.string(), "-C", tmp.path().string(),
                                             "metadata.yaml", "rootfs"},
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
    return absl::InternalError(absl::StrCat("lxd: ", what, ": no fingerprint in ", done.metadata.dump()));
  }
  return fp;
}

absl::StatusOr<std::string> BasePool::BuildFromImage(const BaseDefinition& base,
                                                     const std::string& storage_pool,
                                                     OutputSink& log, CancelToken& cancel) {
  const std::string& src = options_.image_source;
  Json source{{"type", "image"}};
  absl::StatusOr<Json> by_fp = client_.Sync("GET", absl::StrCat("/1.0/images/", src), Json(),
                                            absl::StrCat("look up image ", src));
  if (by_fp.ok()) {
    source["fingerprint"] = by_fp->value("fingerprint", src);
  } else {
    source["alias"] = src;
  }
  std::string name = absl::StrCat("sf-base-", base.digest.substr(0, 12));
  SF_RETURN_IF_ERROR(DeleteInstance(client_, name, op_timeout_));
  Json body{{"name", name},
            {"type", "container"},
            {"source", source},
            {"profiles", Json::array({"default"})},
            {"config", {{"user.sfactory.purpose", "base"}, {"user.sfactory.base-digest", base.digest}}},
            {"devices", {{"root", {{"type", "disk"}, {"path", "/"}, {"pool", storage_pool}}}}}};
  Say(log, absl::StrCat("launching ", name, " from image ", src));
  SF_RETURN_IF_ERROR(client_
                         .Run("POST", "/1.0/instances", body, op_timeout_,
                              absl::StrCat("create instance ", name, " (from image ", src, ")"))
                         .status());
  auto cleanup = [&] { (void)DeleteInstance(client_, name, op_timeout_); };
  absl::Status s = StartInstance(client_, name, op_timeout_);
  if (s.ok()) s = WaitUntilReady(client_, name, std::chrono::seconds(120), &cancel);
  if (s.ok() && !base.packages.empty()) {
    StreamingExec exec;
    exec.command = {"bash", "-ec",
                    absl::StrCat("apt-get update && apt-get install -y --no-install-recommends ",
                                 absl::StrJoin(base.packages, " "), " && apt-get clean")};
    exec.environment = {{"DEBIAN_FRONTEND", "noninteractive"}};
    exec.what = "install base packages";
    absl::StatusOr<int> rc =
        ExecStreaming(client_, name, exec, log, &cancel, nullptr, op_timeout_);
    if (!rc.ok()) {
      s = rc.status();
    } else if (*rc != 0) {
      s = absl::FailedPreconditionError(absl::StrCat(
          "lxd: installing packages in ", name, " failed with exit code ", *rc,
          " (the instance needs a network: add a NIC to the default profile of project ",
          options_.project, ")"));
    }
  }
  if (s.ok()) {
    absl::StatusOr<int> rc = ExecQuiet(
        client_, name,
        {"mkdir", "-p", "/sf/work/.phases", "/sf/out", "/sf/cache/sources", "/sf/cache/ccache"},
        op_timeout_);
    s = rc.ok() ? (*rc == 0 ? absl::OkStatus() : absl::InternalError("mkdir /sf failed")) : rc.status();
  }
  if (s.ok()) s = StopInstance(client_, name, op_timeout_);
  if (!s.ok()) {
    cleanup();
    return s;
  }
  int64_t now = Now();
  Json publish{{"source", {{"type", "instance"}, {"name", name}}},
               {"properties",
                {{"description", absl::StrCat("sfactory base ", base.os, " ", base.arch, " ",
                                              base.digest.substr(0, 12))},
                 {"os", base.os},
                 {"architecture", base.arch},
                 {kDigestKey, base.digest},
                 {kCreatedKey, absl::StrCat(now)},
                 {"sfactory.recipe", base.recipe},
                 {"sfactory.packages", absl::StrJoin(base.packages, " ")},
                 {"sfactory.source", base.source},
                 {"sfactory.provision", kProvisionVersion}}}};
  Say(log, absl::StrCat("publishing ", name, " as ", base.Alias()));
  absl::StatusOr<LxdOperation> done = client_.Run("POST", "/1.0/images", publish, op_timeout_,
                                                  absl::StrCat("publish base ", base.Alias()));
  cleanup();
  if (!done.ok()) return done.status();
  std::string fp = done->metadata.is_object() ? done->metadata.value("fingerprint", "") : "";
  if (fp.empty()) return absl::InternalError("lxd: publish base: no fingerprint");
  return fp;
}

absl::Status BasePool::PointAlias(const BaseDefinition& base, const std::string& fingerprint) {
  std::string alias = base.Alias();
  absl::StatusOr<Json> r = client_.Sync(
      "POST", "/1.0/images/aliases",
      Json{{"name", alias}, {"target", fingerprint}, {"description", "sfactory base " + base.digest}},
      absl::StrCat("create alias ", alias));
  if (absl::IsAlreadyExists(r.status()) || absl::IsInternal(r.status()) ||
      absl::IsFailedPrecondition(r.status())) {
    r = client_.Sync("PUT", absl::StrCat("/1.0/images/aliases/", alias),
                     Json{{"target", fingerprint}, {"description", "sfactory base " + base.digest}},
                     absl::StrCat("move alias ", alias));
  }
  return r.status();
}

absl::Status BasePool::DeleteImage(const std::string& fingerprint) {
  absl::WriterMutexLock lock(&copy_mu_);
  absl::Status s = client_
                       .Run("DELETE", absl::StrCat("/1.0/images/", fingerprint), Json(), op_timeout_,
                            absl::StrCat("delete base image ", fingerprint.substr(0, 12)))
                       .status();
  return absl::IsNotFound(s) ? absl::OkStatus() : s;
}

v1::BaseImage BasePool::Describe(const Json& image) const {
  v1::BaseImage b;
  const Json props = image.value("properties", Json::object());
  auto prop = [&](const char* key) {
    return props.is_object() && props.contains(key) && props[key].is_string()
               ? props[key].get<std::string>()
               : std::string();
  };
  b.set_digest(prop(kDigestKey));
  b.set_os(prop("os"));
  b.set_arch(prop("architecture"));
  b.set_recipe(prop("sfactory.recipe"));
  std::string fp = image.value("fingerprint", "");
  b.set_name(fp);
  if (image.contains("aliases") && image["aliases"].is_array() && !image["aliases"].empty()) {
    b.set_name(image["aliases"][0].value("name", fp));
  }
  int64_t created = 0;
  if (!absl::SimpleAtoi(prop(kCreatedKey), &created)) created = 0;
  int64_t expires = created + int64_t{options_.base_max_age_days} * 86400;
  b.mutable_created_at()->set_seconds(created);
  b.mutable_expires_at()->set_seconds(expires);
  b.set_size(image.value("size", uint64_t{0}));
  // Superseded (no alias) or provisioned by an older sfactoryd: nothing
  // will use it again.
  bool aliased = b.name() != fp;
  bool current = prop("sfactory.provision") == kProvisionVersion;
  b.set_state(Now() >= expires || !aliased || !current ? "expired" : "ready");
  return b;
}

absl::StatusOr<std::vector<v1::BaseImage>> BasePool::List() {
  SF_ASSIGN_OR_RETURN(Json images, client_.Sync("GET", "/1.0/images?recursion=1", Json(),
                                                "list base images"));
  std::vector<v1::BaseImage> out;
  std::set<std::string> seen;
  if (images.is_array()) {
    for (const Json& image : images) {
      v1::BaseImage b = Describe(image);
      if (b.digest().empty()) continue;
      seen.insert(b.digest());
      out.push_back(std::move(b));
    }
  }
  absl::MutexLock lock(&mu_);
  for (const auto& [digest, def] : building_) {
    v1::BaseImage b;
    b.set_digest(digest);
    b.set_os(def.os);
    b.set_arch(def.arch);
    b.set_recipe(def.recipe);
    b.set_name(def.Alias());
    b.set_state("building");
    out.push_back(std::move(b));
  }
  return out;
}

absl::StatusOr<std::vector<v1::BaseImage>> BasePool::Prune(bool all) {
  SF_ASSIGN_OR_RETURN(Json images, client_.Sync("GET", "/1.0/images?recursion=1", Json(),
                                                "list base images"));
  std::vector<v1::BaseImage> removed;
  if (!images.is_array()) return removed;
  for (const Json& image : images) {
    v1::BaseImage b = Describe(image);
    if (b.digest().empty()) continue;
    if (!all && b.state() != "expired") continue;
    if (Building(b.digest())) continue;
    SF_RETURN_IF_ERROR(DeleteImage(image.value("fingerprint", "")));
    removed.push_back(std::move(b));
  }
  return removed;
}

}  // namespace sfactory::provider::lxd
