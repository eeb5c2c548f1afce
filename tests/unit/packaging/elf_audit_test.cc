#include "daemon/packaging/elf_audit.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "common/fs.h"
#include "daemon/packaging/manifest.h"
#include "daemon/packaging/relocate.h"
#include "tests/unit/packaging/fixtures.h"

namespace sfactory::packaging {
namespace {

namespace fs = std::filesystem;
using testing::BuildSlurmLikeTree;
using testing::CompileC;
using testing::MustRun;
using testing::TestDir;

AuditReport MustAudit(const fs::path& software, const AuditOptions& options = {}) {
  auto report = AuditTree(software, options);
  INFO(report.status());
  REQUIRE(report.ok());
  return *report;
}

bool HasFinding(const AuditReport& r, const std::string& file, const std::string& words) {
  for (const Finding& f : r.findings) {
    if (f.file == file && absl::StrContains(f.problem, words)) return true;
  }
  return false;
}

std::string Describe(const AuditReport& r) {
  std::string s;
  for (const Finding& f : r.findings) s += f.file + ": " + f.problem + "\n";
  return s;
}

TEST_CASE("A relocated tree passes the audit and its program runs after the tree moves",
          "[packaging][audit]") {
  TestDir dir;
  auto tree = BuildSlurmLikeTree(dir.path() / "build");

  AuditReport before = MustAudit(tree.software);
  CHECK_FALSE(before.ok);
  CHECK(HasFinding(before, "software/bin/hello", "absolute RUNPATH entry"));

  REQUIRE(Relocate(tree.software, {}).ok());
  AuditReport after = MustAudit(tree.software);
  INFO(Describe(after));
  CHECK(after.ok);
  CHECK(after.elf_files == 4);
  CHECK(after.resolved_in_tree == std::vector<std::string>{"libgreet.so.1", "libhub.so"});

  // Move: copy elsewhere and delete the original, so no absolute path could help.
  const fs::path moved = dir.path() / "some/other/place/software";
  testing::CopyTree(tree.software, moved);
  fs::remove_all(dir.path() / "build");
  auto r = MustRun({(moved / "bin/hello").string()});
  CHECK(r.output == "hello from greet via hub\n");
  CHECK(MustAudit(moved).ok);
}

TEST_CASE("The audit names a file with an absolute RUNPATH", "[packaging][audit]") {
  TestDir dir;
  const fs::path sw = dir.path() / "software";
  CompileC("int main(void) { return 0; }\n", sw / "bin/abs",
           {"-Wl,--enable-new-dtags", "-Wl,-rpath,/abs/path"});
  AuditReport r = MustAudit(sw);
  INFO(Describe(r));
  CHECK_FALSE(r.ok);
  CHECK(HasFinding(r, "software/bin/abs", "absolute RUNPATH entry /abs/path"));
}

TEST_CASE("The audit reports a DT_NEEDED that resolves nowhere", "[packaging][audit]") {
  TestDir dir;
  const fs::path sw = dir.path() / "software";
  CompileC("int gone(void) { return 0; }\n", sw / "lib/libgone.so.1",
           {"-shared", "-fPIC", "-Wl,-soname,libgone.so.1"});
  CompileC("int gone(void);\nint main(void) { return gone(); }\n", sw / "bin/needs",
           {"-Wl,--no-as-needed", (sw / "lib/libgone.so.1").string()});
  REQUIRE(Relocate(sw, {}).ok());
  REQUIRE(MustAudit(sw).ok);

  fs::remove(sw / "lib/libgone.so.1");
  AuditReport r = MustAudit(sw);
  INFO(Describe(r));
  CHECK_FALSE(r.ok);
  CHECK(HasFinding(r, "software/bin/needs", "DT_NEEDED libgone.so.1 resolves neither"));

  SECTION("unless the soname is declared baseline") {
    AuditOptions options;
    options.baseline_sonames = {"libc.so.6", "libgone.so.1"};
    CHECK(MustAudit(sw, options).ok);
  }
}

TEST_CASE("The audit follows RUNPATH like ld.so, not the file's own directory",
          "[packaging][audit]") {
  TestDir dir;
  const fs::path sw = dir.path() / "software";
  CompileC("int f(void) { return 0; }\n", sw / "lib/slurm/libf.so",
           {"-shared", "-fPIC", "-Wl,-soname,libf.so"});
  // A plugin beside libf.so but with a RUNPATH that does not name $ORIGIN.
  CompileC("int f(void);\nint g(void) { return f(); }\n", sw / "lib/slurm/plugin.so",
           {"-shared", "-fPIC", "-Wl,--no-as-needed", "-Wl,--enable-new-dtags",
            "-Wl,-rpath,$ORIGIN/..", (sw / "lib/slurm/libf.so").string()});
  AuditReport r = MustAudit(sw);
  INFO(Describe(r));
  CHECK(HasFinding(r, "software/lib/slurm/plugin.so", "DT_NEEDED libf.so resolves neither"));
}

TEST_CASE("The audit reports $ORIGIN paths that leave the package", "[packaging][audit]") {
  TestDir dir;
  const fs::path sw = dir.path() / "software";
  CompileC("int main(void) { return 0; }\n", sw / "bin/out",
           {"-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/../../outside"});
  AuditReport r = MustAudit(sw);
  CHECK(HasFinding(r, "software/bin/out", "RUNPATH entry $ORIGIN/../../outside leaves the package"));
}

TEST_CASE("The audit accepts baseline-only programs and ignores static files",
          "[packaging][audit]") {
  TestDir dir;
  const fs::path sw = dir.path() / "software";
  CompileC("#include <math.h>\nint main(int c, char** v) { return (int)sqrt(c); }\n",
           sw / "bin/plain", {"-lm"});
  CompileC("int x(void) { return 0; }\n", sw / "lib/x.o", {"-c"});
  testing::WriteText(sw / "share/doc/README", "text\n");
  AuditReport r = MustAudit(sw);
  INFO(Describe(r));
  CHECK(r.ok);
  CHECK(r.elf_files == 2);
  CHECK(r.resolved_in_tree.empty());
}

TEST_CASE("The audit reports build paths left in pkg-config files", "[packaging][audit]") {
  TestDir dir;
  const fs::path sw = dir.path() / "software";
  testing::WriteText(sw / "lib/pkgconfig/x.pc",
                     "prefix=${pcfiledir}/../..\nLibs: -L/sf/work/munge/lib -lmunge\n");
  AuditOptions options;
  options.forbidden_paths = {"/sf/", "/opt/slurm/24.11"};
  AuditReport r = MustAudit(sw, options);
  CHECK(HasFinding(r, "software/lib/pkgconfig/x.pc", "line 2 refers to build path /sf/"));
}

TEST_CASE("The audit report renders as JSON with proto field names", "[packaging][audit]") {
  AuditReport r;
  r.ok = false;
  r.elf_files = 3;
  r.findings.push_back({"software/bin/x", "absolute RUNPATH entry /a"});
  auto json = AuditReportToJson(r);
  REQUIRE(json.ok());
  CHECK(absl::StrContains(*json, "\"elf_files\": 3"));
  CHECK(absl::StrContains(*json, "\"file\": \"software/bin/x\""));
  CHECK(absl::StrContains(*json, "\"ok\": false"));
}

}  // namespace
}  // namespace sfactory::packaging
