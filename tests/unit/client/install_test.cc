#include "client/install.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client_test_util.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/status.h"
#include "common/subprocess.h"
#include "daemon/packaging/package.h"
#include "fake_daemon.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/skip.h"
#include "tests/test_dir.h"
#include "tests/unit/packaging/fixtures.h"

namespace sfactory::client::testing {
namespace {

namespace fs = std::filesystem;
using ::sfactory::testing::ScratchDir;

constexpr const char* kVersion = "24.11.5";
constexpr const char* kBuildPrefix = "/opt/slurm/24.11";

// tree.tar shaped like a recipe's, with real ELF files (packaging fixtures);
// made once per test process.
const fs::path& TreeTar() {
  static const fs::path* tar = [] {
    static ScratchDir* dir = new ScratchDir();
    packaging::testing::BuildSlurmLikeTree(dir->path() / "build", kBuildPrefix);
    auto* p = new fs::path(dir->path() / "tree.tar");
    packaging::testing::MustRun(
        {"tar", "-cf", p->string(), "-C", (dir->path() / "build").string(), "software"});
    return p;
  }();
  return *tar;
}

// The four release files of a build, made by the real packaging code.
// `digest_char` makes the digest (and so the install dir) differ.
struct Release {
  fs::path dir;
  std::string build_id;
  std::string digest;
  std::string install_name;  // <version>-<digest12>
};

Release MakeRelease(const fs::path& parent, const std::string& build_id, char digest_char,
                    const fs::path& templates) {
  Release r;
  r.dir = parent / ("files-" + build_id);
  r.build_id = build_id;
  r.digest = std::string(64, digest_char);
  r.install_name = absl::StrCat(kVersion, "-", r.digest.substr(0, 12));
  packaging::PackageRequest req;
  req.tree_tar = TreeTar();
  req.work_dir = parent / ("work-" + build_id);
  req.out_dir = r.dir;
  fs::create_directories(req.work_dir);
  fs::create_directories(req.out_dir);
  req.module_templates_dir = templates;
  req.spec.set_slurm_version(kVersion);
  req.spec.set_recipe("native");
  req.spec.set_os("debian-12");
  req.spec.set_arch("x86_64");
  req.build_id = build_id;
  req.digest = r.digest;
  req.install_prefix = kBuildPrefix;
  req.source_date_epoch = 1700000000;
  auto result = packaging::Package(req, [](absl::string_view) {});
  INFO(result.status());
  REQUIRE(result.ok());
  fs::remove_all(req.work_dir);
  return r;
}

struct Site {
  fs::path prefix;
  fs::path lmod;
  fs::path tcl;
};

Site MakeSite(const fs::path& parent) {
  return {parent / "apps/slurm", parent / "modulefiles", parent / "tcl-modulefiles"};
}

InstallRequest Request(const Release& release, const Site& site,
                       InstallMode mode = InstallMode::kApply) {
  InstallRequest r;
  r.artifacts_dir = release.dir;
  r.prefix = site.prefix;
  r.lmod_dir = site.lmod;
  r.tcl_dir = site.tcl;
  r.mode = mode;
  r.expected_build_id = release.build_id;
  return r;
}

fs::path LuaOf(const Site& s) { return s.lmod / "slurm" / (std::string(kVersion) + ".lua"); }
fs::path TclOf(const Site& s) { return s.tcl / "slurm" / kVersion; }

std::string LinkTarget(const fs::path& link) {
  std::error_code ec;
  return fs::read_symlink(link, ec).string();
}

// Every path below `root` with its type, mode and content (or link target):
// equal snapshots mean nothing was changed.
std::map<std::string, std::string> Snapshot(const fs::path& root) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  if (!fs::exists(root, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const fs::path& p = it->path();
    struct stat st;
    REQUIRE(::lstat(p.c_str(), &st) == 0);
    std::string what = absl::StrCat(st.st_mode, " ", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec);
    if (S_ISLNK(st.st_mode)) {
      absl::StrAppend(&what, " -> ", LinkTarget(p));
    } else if (S_ISREG(st.st_mode)) {
      absl::StrAppend(&what, " ", Sha256File(p).value());
    }
    out[fs::relative(p, root).string()] = what;
  }
  return out;
}

std::map<std::string, std::string> SnapshotSite(const Site& s) {
  std::map<std::string, std::string> out;
  for (const auto& [name, root] :
       {std::pair{"prefix", s.prefix}, std::pair{"lmod", s.lmod}, std::pair{"tcl", s.tcl}}) {
    for (auto& [k, v] : Snapshot(root)) out[absl::StrCat(name, "/", k)] = v;
  }
  return out;
}

// The names directly in `dir` that are not an install dir, link or lock:
// leftovers of a temp dir or temp file.
std::vector<std::string> Leftovers(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (n[0] == '.' && n != ".sfactory-install.lock") out.push_back(n);
  }
  return out;
}

std::string RunHello(const fs::path& software_root) {
  auto r = RunCapture({(software_root / "bin/hello").string()}, {});
  REQUIRE(r.ok());
  return r->output;
}

// Each test case: a scratch dir holding an empty site and the release files.
class World {
 protected:
  Release Build(const std::string& build_id, char digest_char,
                const fs::path& templates = SFACTORY_SOURCE_DIR "/templates/modules") {
    return MakeRelease(dir.path(), build_id, digest_char, templates);
  }
  ScratchDir dir;
  Site site = MakeSite(dir.path());
};

// Fails the Nth rename from now (1 = the next one) with EIO.
class FailingRenameEnv : public Env {
 public:
  explicit FailingRenameEnv(int fail_at) : fail_at_(fail_at) {}
  int renames = 0;

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const fs::path& path,
                                                                int mode) override {
    return Env::Default()->NewWritableFile(path, mode);
  }
  absl::Status SyncFile(const fs::path& path) override { return Env::Default()->SyncFile(path); }
  absl::Status Rename(const fs::path& from, const fs::path& to) override {
    if (++renames == fail_at_) {
      return ErrnoStatus(EIO, absl::StrCat("rename ", from.string(), " to ", to.string()));
    }
    return Env::Default()->Rename(from, to);
  }
  absl::Status SyncDir(const fs::path& dir) override { return Env::Default()->SyncDir(dir); }
  absl::Status RemoveFile(const fs::path& path) override {
    return Env::Default()->RemoveFile(path);
  }

 private:
  int fail_at_;
};

TEST_CASE_METHOD(World, "Install puts the software, both module files and the symlink in place",
          "[client][install]") {
  Release rel = Build("b1", 'a');

  auto report = Install(Request(rel, site));
  INFO(report.status());
  REQUIRE(report.ok());
  CHECK(report->changed);
  CHECK(report->build_id == "b1");
  CHECK(report->version == kVersion);
  const fs::path installed = site.prefix / rel.install_name;
  CHECK(report->install_dir == installed);
  CHECK(report->link == site.prefix / kVersion);
  CHECK(report->previous_target.empty());

  // The software root holds bin/ lib/ ... directly and runs from there.
  CHECK(fs::is_directory(installed / "bin"));
  CHECK(fs::is_directory(installed / "lib/slurm"));
  CHECK_FALSE(fs::exists(installed / "software"));
  CHECK_FALSE(fs::exists(installed / "manifest.json"));
  CHECK(RunHello(installed) == "hello from greet via hub\n");
  CHECK(LinkTarget(site.prefix / kVersion) == rel.install_name);
  CHECK(RunHello(site.prefix / kVersion) == "hello from greet via hub\n");
  CHECK(fs::status(installed).permissions() == fs::perms(0755));

  const std::string lua = ReadFile(LuaOf(site)).value();
  const std::string tcl = ReadFile(TclOf(site)).value();
  CHECK(absl::StrContains(lua, absl::StrCat("\nlocal recorded = \"", installed.string(), "\"\n")));
  CHECK(absl::StrContains(tcl, absl::StrCat("\nset recorded {", installed.string(), "}\n")));
  CHECK_FALSE(absl::StrContains(lua, absl::StrCat("recorded = \"", kBuildPrefix)));
  CHECK(absl::StrContains(lua, "setenv(\"SLURM_BUILD_ID\", \"b1\")"));
  CHECK((fs::status(LuaOf(site)).permissions() & fs::perms(0777)) == fs::perms(0644));

  CHECK(Leftovers(site.prefix).empty());
  CHECK(Leftovers(site.lmod / "slurm").empty());
  CHECK(Leftovers(site.tcl / "slurm").empty());
  std::string text = DescribeInstall(*report);
  CHECK(absl::StrContains(text, "created " + installed.string()));
  CHECK(absl::StrContains(text, "wrote   " + LuaOf(site).string() + " (new)"));
  CHECK(absl::StrContains(text, "switched " + (site.prefix / kVersion).string() + " -> " +
                                    rel.install_name + " (new)"));
  CHECK(absl::EndsWith(text, "load it with: module use " + site.lmod.string() +
                                 "; module load slurm/24.11.5\n"));
}

TEST_CASE_METHOD(World, "An install is readable by everyone whatever the umask",
                 "[client][install]") {
  Release rel = Build("b1", 'a');
  const mode_t saved = ::umask(077);
  auto report = Install(Request(rel, site));
  ::umask(saved);
  INFO(report.status());
  REQUIRE(report.ok());
  auto mode = [](const fs::path& p) { return fs::status(p).permissions() & fs::perms(0777); };
  CHECK(mode(site.prefix) == fs::perms(0755));
  CHECK(mode(site.prefix / rel.install_name) == fs::perms(0755));
  CHECK(mode(site.prefix / rel.install_name / "bin/hello") == fs::perms(0755));
  CHECK(mode(site.lmod) == fs::perms(0755));
  CHECK(mode(site.lmod / "slurm") == fs::perms(0755));
  CHECK(mode(LuaOf(site)) == fs::perms(0644));
  CHECK(mode(TclOf(site)) == fs::perms(0644));
}

TEST_CASE_METHOD(World, "A second install of the same build is a no-op that says so", "[client][install]") {
  Release rel = Build("b1", 'a');
  REQUIRE(Install(Request(rel, site)).ok());
  auto before = SnapshotSite(site);

  auto again = Install(Request(rel, site));
  INFO(again.status());
  REQUIRE(again.ok());
  CHECK_FALSE(again->changed);
  for (const InstallAction& a : again->actions) {
    INFO(a.path);
    CHECK((a.kind == InstallActionKind::kKeepDir || a.kind == InstallActionKind::kKeepModule ||
           a.kind == InstallActionKind::kKeepLink));
  }
  CHECK(absl::StrContains(DescribeInstall(*again), "is already installed"));
  CHECK(SnapshotSite(site) == before);
}

TEST_CASE_METHOD(World, "Installing a second build switches the symlink and keeps the first install",
          "[client][install]") {
  Release first = Build("b1", 'a');
  Release second = Build("b2", 'b');
  REQUIRE(Install(Request(first, site)).ok());
  const auto first_tree = Snapshot(site.prefix / first.install_name);

  auto report = Install(Request(second, site));
  INFO(report.status());
  REQUIRE(report.ok());
  CHECK(report->changed);
  CHECK(report->previous_target == first.install_name);
  CHECK(LinkTarget(site.prefix / kVersion) == second.install_name);
  // The first install is untouched: jobs may still run from it.
  CHECK(Snapshot(site.prefix / first.install_name) == first_tree);
  CHECK(RunHello(site.prefix / first.install_name) == "hello from greet via hub\n");
  CHECK(RunHello(site.prefix / second.install_name) == "hello from greet via hub\n");
  CHECK(absl::StrContains(ReadFile(LuaOf(site)).value(),
                          "local recorded = \"" + (site.prefix / second.install_name).string()));
  CHECK(absl::StrContains(ReadFile(TclOf(site)).value(),
                          "set recorded {" + (site.prefix / second.install_name).string()));
  CHECK(absl::StrContains(DescribeInstall(*report), "(was " + first.install_name + ")"));
  CHECK(absl::StrContains(DescribeInstall(*report), "the previous install"));

  // And back: the first build is installed again without extracting.
  auto back = Install(Request(first, site));
  REQUIRE(back.ok());
  CHECK(back->actions.front().kind == InstallActionKind::kKeepDir);
  CHECK(LinkTarget(site.prefix / kVersion) == first.install_name);
}

TEST_CASE_METHOD(World, "A file that does not match SHA256SUMS is refused and the previous install stays",
          "[client][install]") {
  Release first = Build("b1", 'a');
  Release second = Build("b2", 'b');
  REQUIRE(Install(Request(first, site)).ok());
  auto before = SnapshotSite(site);

  fs::path victim;
  SECTION("the software tarball") {
    for (const auto& e : fs::directory_iterator(second.dir)) {
      if (absl::EndsWith(e.path().string(), "-software.tar.zst")) victim = e.path();
    }
  }
  SECTION("the module tarball") {
    for (const auto& e : fs::directory_iterator(second.dir)) {
      if (absl::EndsWith(e.path().string(), "-module.tar.gz")) victim = e.path();
    }
  }
  SECTION("the manifest") { victim = second.dir / "manifest.json"; }
  REQUIRE(!victim.empty());
  {
    // Flip a byte: writing a fixed value leaves the file as it was whenever
    // that byte already had it (the archives differ from run to run).
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(40);
    char c = 0;
    f.get(c);
    f.seekp(40);
    f.put(static_cast<char>(c ^ 0xff));
  }

  auto report = Install(Request(second, site));
  REQUIRE_FALSE(report.ok());
  INFO(report.status());
  CHECK(absl::IsDataLoss(report.status()));
  CHECK(absl::StrContains(report.status().message(), victim.filename().string()));
  CHECK(absl::StrContains(report.status().message(), "fetch the build's files again"));
  CHECK(SnapshotSite(site) == before);
  CHECK_FALSE(fs::exists(site.prefix / second.install_name));
}

TEST_CASE_METHOD(World, "A file SHA256SUMS lists but the directory lacks is NOT_FOUND", "[client][install]") {
  Release rel = Build("b1", 'a');
  for (const auto& e : fs::directory_iterator(rel.dir)) {
    if (absl::EndsWith(e.path().string(), "-module.tar.gz")) fs::remove(e.path());
  }
  auto report = Install(Request(rel, site));
  REQUIRE_FALSE(report.ok());
  CHECK(absl::IsNotFound(report.status()));
  CHECK(absl::StrContains(report.status().message(), "-module.tar.gz, which SHA256SUMS lists"));
  CHECK_FALSE(fs::exists(site.prefix));

  fs::remove(rel.dir / "SHA256SUMS");
  report = Install(Request(rel, site));
  REQUIRE_FALSE(report.ok());
  CHECK(absl::IsNotFound(report.status()));
  CHECK(absl::StrContains(report.status().message(), "sfactory fetch BUILD -o DIR"));
}

TEST_CASE_METHOD(World, "A dry run prints the plan and changes nothing", "[client][install]") {
  Release first = Build("b1", 'a');
  Release second = Build("b2", 'b');

  SECTION("onto an empty site") {
    auto report = Install(Request(first, site, InstallMode::kDryRun));
    INFO(report.status());
    REQUIRE(report.ok());
    CHECK(report->changed);
    REQUIRE(report->actions.size() == 4);
    CHECK(report->actions[0].kind == InstallActionKind::kCreateDir);
    CHECK(report->actions[1].kind == InstallActionKind::kWriteModule);
    CHECK(report->actions[1].detail == "new");
    CHECK(report->actions[2].kind == InstallActionKind::kWriteModule);
    CHECK(report->actions[3].kind == InstallActionKind::kSwitchLink);
    CHECK_FALSE(fs::exists(site.prefix));
    CHECK_FALSE(fs::exists(site.lmod));
    CHECK_FALSE(fs::exists(site.tcl));
    std::string text = DescribeInstall(*report);
    CHECK(absl::StartsWith(text, "dry run, nothing changed"));
    CHECK(absl::StrContains(text, "  create " + (site.prefix / first.install_name).string()));
    CHECK_FALSE(absl::StrContains(text, "installed"));
  }
  SECTION("over an earlier install") {
    REQUIRE(Install(Request(first, site)).ok());
    auto before = SnapshotSite(site);
    auto report = Install(Request(second, site, InstallMode::kDryRun));
    INFO(report.status());
    REQUIRE(report.ok());
    CHECK(report->previous_target == first.install_name);
    CHECK(report->actions[1].detail == "replace");
    CHECK(absl::StrContains(DescribeInstall(*report),
                            "  switch " + (site.prefix / kVersion).string() + " -> " +
                                second.install_name + " (was " + first.install_name + ")"));
    CHECK(SnapshotSite(site) == before);
  }
}

TEST_CASE_METHOD(World, "A module file without the recorded line fails before anything is installed",
          "[client][install]") {
  fs::path templates = dir.path() / "templates";
  fs::create_directories(templates);
  fs::copy(SFACTORY_SOURCE_DIR "/templates/modules/slurm.tcl.in", templates / "slurm.tcl.in");
  std::string lua = ReadFile(SFACTORY_SOURCE_DIR "/templates/modules/slurm.lua.in").value();
  const std::string line = "local recorded = \"@PREFIX@\"\n";
  REQUIRE(absl::StrContains(lua, line));
  lua.replace(lua.find(line), line.size(), "local where = \"@PREFIX@\"\n");
  REQUIRE(WriteFileAtomic(templates / "slurm.lua.in", lua).ok());
  Release rel = Build("b1", 'a', templates);

  auto report = Install(Request(rel, site));
  REQUIRE_FALSE(report.ok());
  INFO(report.status());
  CHECK(absl::IsFailedPrecondition(report.status()));
  CHECK(absl::StrContains(report.status().message(), "0 lines starting with \"local recorded\""));
  CHECK(absl::StrContains(report.status().message(), "install the module by hand"));
  CHECK_FALSE(fs::exists(site.prefix));
  CHECK_FALSE(fs::exists(site.lmod));
}

TEST_CASE("RewriteRecordedPrefix rewrites exactly one recorded line", "[client][install]") {
  const std::string lua = "-- x\nlocal recorded = \"/opt/slurm/24.11\"\nlocal prefix = \"\"\n";
  CHECK(RewriteRecordedPrefix(lua, ModuleFlavor::kLmod, "/s/apps/slurm/24.11.5-abc").value() ==
        "-- x\nlocal recorded = \"/s/apps/slurm/24.11.5-abc\"\nlocal prefix = \"\"\n");
  const std::string tcl = "#%Module1.0\nset recorded {/opt/slurm/24.11}\nset prefix {}\n";
  CHECK(RewriteRecordedPrefix(tcl, ModuleFlavor::kTcl, "/s/x").value() ==
        "#%Module1.0\nset recorded {/s/x}\nset prefix {}\n");

  auto twice = RewriteRecordedPrefix(lua + lua, ModuleFlavor::kLmod, "/s/x");
  CHECK(absl::IsFailedPrecondition(twice.status()));
  CHECK(absl::StrContains(twice.status().message(), "has 2 lines"));
  auto none = RewriteRecordedPrefix(tcl, ModuleFlavor::kLmod, "/s/x");
  CHECK(absl::IsFailedPrecondition(none.status()));
  auto malformed = RewriteRecordedPrefix("local recorded = os.getenv(\"X\")\n",
                                         ModuleFlavor::kLmod, "/s/x");
  CHECK(absl::IsFailedPrecondition(malformed.status()));
  CHECK(absl::StrContains(malformed.status().message(), "is not of the form"));
  // What cannot live inside "..." or {...} never gets there.
  for (const char* bad : {"/s/a\"b", "/s/a}b", "/s/a b", "/s/$x", "relative/x"}) {
    INFO(bad);
    CHECK(absl::IsInvalidArgument(
        RewriteRecordedPrefix(lua, ModuleFlavor::kLmod, bad).status()));
  }
}

TEST_CASE_METHOD(World, "A failure while switching puts the previous module files back", "[client][install]") {
  Release first = Build("b1", 'a');
  Release second = Build("b2", 'b');
  REQUIRE(Install(Request(first, site)).ok());
  const std::string lua_before = ReadFile(LuaOf(site)).value();
  const std::string tcl_before = ReadFile(TclOf(site)).value();

  // Renames in order: the install dir, the Lmod file, the Tcl file, the link.
  int fail_at = 0;
  SECTION("renaming the install dir into place") { fail_at = 1; }
  SECTION("the Lmod module") { fail_at = 2; }
  SECTION("the Tcl module") { fail_at = 3; }
  SECTION("the symlink") { fail_at = 4; }
  FailingRenameEnv env(fail_at);
  InstallRequest req = Request(second, site);
  req.env = &env;
  auto report = Install(req);
  REQUIRE_FALSE(report.ok());
  INFO(report.status());
  CHECK(absl::StrContains(report.status().message(), "rename"));
  CHECK(LinkTarget(site.prefix / kVersion) == first.install_name);
  CHECK(ReadFile(LuaOf(site)).value() == lua_before);
  CHECK(ReadFile(TclOf(site)).value() == tcl_before);
  CHECK(RunHello(site.prefix / first.install_name) == "hello from greet via hub\n");
  CHECK(Leftovers(site.prefix).empty());
  CHECK(Leftovers(site.lmod / "slurm").empty());
  CHECK(Leftovers(site.tcl / "slurm").empty());
  if (fail_at == 1) {
    CHECK_FALSE(fs::exists(site.prefix / second.install_name));
    CHECK(absl::EndsWith(report.status().message(), "(nothing was changed)"));
  } else {
    CHECK(absl::EndsWith(report.status().message(),
                         "(the previous install is as it was; " +
                             (site.prefix / second.install_name).string() +
                             " stays and installing again finishes the job)"));
  }

  // Installing again finishes the job.
  auto again = Install(Request(second, site));
  INFO(again.status());
  REQUIRE(again.ok());
  CHECK(LinkTarget(site.prefix / kVersion) == second.install_name);
}

TEST_CASE_METHOD(World, "An install dir changed since it was installed is refused, not overwritten",
          "[client][install]") {
  Release rel = Build("b1", 'a');
  REQUIRE(Install(Request(rel, site)).ok());
  const fs::path hello = site.prefix / rel.install_name / "bin/hello";
  REQUIRE(WriteFileAtomic(hello, "#!/bin/sh\necho tampered\n", 0755).ok());

  auto report = Install(Request(rel, site));
  REQUIRE_FALSE(report.ok());
  CHECK(absl::IsFailedPrecondition(report.status()));
  CHECK(absl::StrContains(report.status().message(), "someone changed it"));
  CHECK(ReadFile(hello).value() == "#!/bin/sh\necho tampered\n");
}

TEST_CASE_METHOD(World, "An install into a prefix another install holds is refused at once",
                 "[client][install]") {
  Release rel = Build("b1", 'a');
  fs::create_directories(site.prefix);
  auto held = OpenFile(site.prefix / ".sfactory-install.lock", O_RDWR | O_CREAT | O_CLOEXEC);
  REQUIRE(held.ok());
  REQUIRE(::flock(held->get(), LOCK_EX | LOCK_NB) == 0);

  auto report = Install(Request(rel, site));
  REQUIRE_FALSE(report.ok());
  CHECK(absl::IsFailedPrecondition(report.status()));
  CHECK(absl::StrContains(report.status().message(), "another sfactory install is running"));
  CHECK_FALSE(fs::exists(site.prefix / rel.install_name));
  CHECK_FALSE(fs::exists(site.lmod));
  // A dry run changes nothing, so it takes no lock.
  CHECK(Install(Request(rel, site, InstallMode::kDryRun)).ok());

  held->Reset();
  CHECK(Install(Request(rel, site)).ok());
}

TEST_CASE_METHOD(World, "What an install that died left in the prefix is cleaned up",
                 "[client][install]") {
  Release rel = Build("b1", 'a');
  const fs::path staging = site.prefix / (".24.11.5-" + std::string(12, 'z') + ".tmp-Ab12Cd");
  fs::create_directories(staging / "software/bin");
  fs::create_symlink("24.11.5-x", site.prefix / ".24.11.5.link.tmp.4242");
  const fs::path other = site.prefix / ".not-ours";
  fs::create_directories(other);

  REQUIRE(Install(Request(rel, site)).ok());
  CHECK_FALSE(fs::exists(staging));
  CHECK_FALSE(fs::is_symlink(site.prefix / ".24.11.5.link.tmp.4242"));
  CHECK(fs::exists(other));
}

TEST_CASE_METHOD(World, "A prefix/version that is not a symlink is refused", "[client][install]") {
  Release rel = Build("b1", 'a');
  fs::create_directories(site.prefix / kVersion / "bin");
  auto report = Install(Request(rel, site));
  REQUIRE_FALSE(report.ok());
  CHECK(absl::IsFailedPrecondition(report.status()));
  CHECK(absl::StrContains(report.status().message(), "is not a symlink"));
  CHECK_FALSE(fs::exists(site.prefix / rel.install_name));
}

TEST_CASE_METHOD(World, "Files of another build than the one named are refused", "[client][install]") {
  Release rel = Build("b1", 'a');
  InstallRequest req = Request(rel, site);
  req.expected_build_id = "b7";
  auto report = Install(req);
  CHECK(absl::IsInvalidArgument(report.status()));
  CHECK(absl::StrContains(report.status().message(), "holds the files of build b1, not b7"));
}

TEST_CASE_METHOD(World, "Only the Lmod tree is written when no Tcl dir is given", "[client][install]") {
  Release rel = Build("b1", 'a');
  InstallRequest req = Request(rel, site);
  req.tcl_dir.clear();
  auto report = Install(req);
  REQUIRE(report.ok());
  CHECK(fs::exists(LuaOf(site)));
  CHECK_FALSE(fs::exists(site.tcl));
  CHECK(report->actions.size() == 3);

  req.lmod_dir.clear();
  CHECK(absl::IsInvalidArgument(Install(req).status()));
}

// A prefix the caller may not write (PERMISSION_DENIED, also in a dry run)
// is checked by integration.install as `nobody`: the suite runs as root in
// CI, where a unit test of it could only ever be skipped.

// The command: --from needs no daemon; the result is one JSON document.
TEST_CASE_METHOD(World, "sfactory install --from --json prints what was done", "[client][install]") {
  Release rel = Build("b1", 'a');
  std::vector<std::string> args = {"install",       "b1",
                                   "--from",        rel.dir.string(),
                                   "--prefix",      site.prefix.string(),
                                   "--modules",     site.lmod.string(),
                                   "--tcl-modules", site.tcl.string()};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> all = args;
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  };

  RunResult dry = RunClient("", with({"--dry-run"}));
  INFO(dry.err);
  REQUIRE(dry.code == 0);
  CHECK(absl::StartsWith(dry.out, "dry run, nothing changed"));
  CHECK_FALSE(fs::exists(site.prefix));

  RunResult r = RunClient("", with({"--json"}));
  INFO(r.err);
  REQUIRE(r.code == 0);
  google::protobuf::Struct doc;
  REQUIRE(google::protobuf::util::JsonStringToMessage(r.out, &doc).ok());
  auto& f = doc.fields();
  CHECK(f.at("build_id").string_value() == "b1");
  CHECK(f.at("version").string_value() == kVersion);
  CHECK(f.at("install_dir").string_value() == (site.prefix / rel.install_name).string());
  CHECK(f.at("changed").bool_value());
  CHECK_FALSE(f.at("dry_run").bool_value());
  REQUIRE(f.at("actions").list_value().values_size() == 4);
  CHECK(f.at("actions").list_value().values(3).struct_value().fields().at("action").string_value() ==
        "switch_link");

  RunResult again = RunClient("", args);
  REQUIRE(again.code == 0);
  CHECK(absl::StrContains(again.out, "nothing to do"));

  RunResult wrong = RunClient("", {"install", "b1", "--from", rel.dir.string()});
  CHECK(wrong.code == 2);
  CHECK(absl::StrContains(wrong.err, "--prefix DIR is required"));
}

TEST_CASE_METHOD(World, "sfactory install exits 7 for a damaged file", "[client][install]") {
  Release rel = Build("b1", 'a');
  {
    std::ofstream f(rel.dir / "manifest.json", std::ios::app);
    f << " ";
  }
  RunResult r = RunClient("", {"install", "b1", "--from", rel.dir.string(), "--prefix",
                               site.prefix.string(), "--modules", site.lmod.string()});
  CHECK(r.code == 7);
  CHECK(absl::StrContains(r.err, "manifest.json has sha256"));
  CHECK_FALSE(fs::exists(site.prefix));
}

// Online: the files come from the daemon into the download cache.
std::vector<std::pair<std::string, std::string>> FilesOf(const Release& rel) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& e : fs::directory_iterator(rel.dir)) {
    files.emplace_back(e.path().filename().string(), ReadFile(e.path()).value());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST_CASE_METHOD(World, "sfactory install fetches a succeeded build and checks it against the daemon",
          "[client][install]") {
  Release rel = Build("b1", 'a');
  FakeDaemon daemon;
  daemon.AddSucceededBuild("b1", FilesOf(rel));
  RunSetup setup;
  setup.env["XDG_CACHE_HOME"] = (dir.path() / "cache").string();
  const std::vector<std::string> args = {"install",  "b1",
                                         "--prefix", site.prefix.string(),
                                         "--modules", site.lmod.string()};

  SECTION("its digest matches") {
    daemon.With([&](FakeState& s) { s.builds["b1"].set_digest(rel.digest); });
    RunResult r = RunClient(daemon.address(), args, setup);
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(absl::StrContains(r.out, "installed slurm 24.11.5 (build b1)"));
    CHECK(fs::exists(dir.path() / "cache/sfactory/builds/b1/SHA256SUMS"));
    CHECK(LinkTarget(site.prefix / kVersion) == rel.install_name);
  }
  SECTION("its digest differs from the files'") {
    daemon.With([&](FakeState& s) { s.builds["b1"].set_digest(std::string(64, 'c')); });
    RunResult r = RunClient(daemon.address(), args, setup);
    CHECK(r.code == 7);
    CHECK(absl::StrContains(r.err, "but build b1 has digest"));
    CHECK_FALSE(fs::exists(site.prefix));
  }
  SECTION("it has not succeeded") {
    daemon.With([&](FakeState& s) { s.builds["b1"].set_state(v1::BUILD_STATE_FAILED); });
    RunResult r = RunClient(daemon.address(), args, setup);
    CHECK(r.code == 2);
    CHECK(absl::StrContains(r.err, "build b1 failed, it has nothing to install"));
    CHECK(absl::StrContains(r.err, "sfactory logs b1"));
    CHECK_FALSE(fs::exists(dir.path() / "cache"));
  }
}

}  // namespace
}  // namespace sfactory::client::testing
