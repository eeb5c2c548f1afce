#include "daemon/packaging/relocate.h"

#include <catch2/catch.hpp>
#include <map>

#include "absl/strings/str_split.h"

#include "common/fs.h"
#include "daemon/packaging/elf_file.h"
#include "tests/unit/packaging/fixtures.h"

namespace sfactory::packaging {
namespace {

namespace fs = std::filesystem;
using testing::BuildSlurmLikeTree;
using testing::CompileC;
using testing::MustRun;
using testing::TestDir;

ElfInfo MustReadElf(const fs::path& p) {
  auto info = ReadElfInfo(p);
  INFO(p);
  REQUIRE(info.ok());
  REQUIRE(info->has_value());
  return **info;
}

TEST_CASE("RunpathFor points from a file's directory at every library dir", "[packaging][relocate]") {
  std::vector<std::string> dirs = {"lib", "lib/slurm"};
  CHECK(RunpathFor("bin", dirs) == "$ORIGIN/../lib:$ORIGIN/../lib/slurm");
  CHECK(RunpathFor("sbin", {"lib"}) == "$ORIGIN/../lib");
  CHECK(RunpathFor("lib/slurm", dirs) == "$ORIGIN/..:$ORIGIN");
  CHECK(RunpathFor("lib", dirs) == "$ORIGIN:$ORIGIN/slurm");
  CHECK(RunpathFor("libexec/slurm/x", {"lib"}) == "$ORIGIN/../../../lib");
  CHECK(RunpathFor("bin", {}) == "");
}

TEST_CASE("Relocate gives bin and lib/slurm files $ORIGIN-relative RUNPATHs", "[packaging][relocate]") {
  TestDir dir;
  auto tree = BuildSlurmLikeTree(dir.path());
  CHECK(MustReadElf(tree.software / "bin/hello").needed.size() >= 2);

  auto report = Relocate(tree.software, {.install_prefix = "/opt/slurm/24.11"});
  INFO(report.status());
  REQUIRE(report.ok());
  CHECK(report->library_dirs == std::vector<std::string>{"lib", "lib/slurm"});
  CHECK(report->dynamic_elf_files == 4);
  CHECK(report->patched_elf_files == 4);

  ElfInfo hello = MustReadElf(tree.software / "bin/hello");
  CHECK(hello.runpath == "$ORIGIN/../lib:$ORIGIN/../lib/slurm");
  CHECK_FALSE(hello.rpath.has_value());
  CHECK(MustReadElf(tree.software / "lib/slurm/plugin_x.so").runpath == "$ORIGIN/..:$ORIGIN");
  CHECK(MustReadElf(tree.software / "lib/slurm/libhub.so").runpath == "$ORIGIN/..:$ORIGIN");
  CHECK(MustReadElf(tree.software / "lib/libgreet.so.1.0.0").runpath == "$ORIGIN:$ORIGIN/slurm");

  SECTION("a second run changes nothing") {
    auto again = Relocate(tree.software, {.install_prefix = "/opt/slurm/24.11"});
    REQUIRE(again.ok());
    CHECK(again->patched_elf_files == 0);
  }
}

TEST_CASE("Relocate turns a DT_RPATH into a DT_RUNPATH", "[packaging][relocate]") {
  TestDir dir;
  const fs::path sw = dir.path() / "software";
  CompileC("int f(void) { return 1; }\n", sw / "lib/libf.so.1",
           {"-shared", "-fPIC", "-Wl,-soname,libf.so.1"});
  CompileC("int f(void);\nint main(void) { return f() - 1; }\n", sw / "bin/old",
           {"-Wl,--disable-new-dtags", "-Wl,--no-as-needed", "-Wl,-rpath,/build/lib",
            (sw / "lib/libf.so.1").string()});
  ElfInfo before = MustReadElf(sw / "bin/old");
  REQUIRE(before.rpath == "/build/lib");
  REQUIRE_FALSE(before.runpath.has_value());

  REQUIRE(Relocate(sw, {}).ok());
  ElfInfo after = MustReadElf(sw / "bin/old");
  CHECK_FALSE(after.rpath.has_value());
  CHECK(after.runpath == "$ORIGIN/../lib");
  MustRun({(sw / "bin/old").string()});
}

TEST_CASE("Relocate removes an absolute RUNPATH when nothing in the tree is needed",
          "[packaging][relocate]") {
  TestDir dir;
  const fs::path sw = dir.path() / "software";
  CompileC("int main(void) { return 0; }\n", sw / "bin/alone", {"-Wl,-rpath,/build/lib"});
  auto report = Relocate(sw, {});
  REQUIRE(report.ok());
  CHECK(report->library_dirs.empty());
  ElfInfo after = MustReadElf(sw / "bin/alone");
  CHECK_FALSE(after.rpath.has_value());
  CHECK_FALSE(after.runpath.has_value());
}

TEST_CASE("Relocate leaves static executables and objects alone", "[packaging][relocate]") {
  TestDir dir;
  const fs::path sw = dir.path() / "software";
  CompileC("int x(void) { return 0; }\n", sw / "lib/x.o", {"-c"});
  MustRun({"ar", "rcs", (sw / "lib/libx.a").string(), (sw / "lib/x.o").string()});
  auto before_o = ReadFile(sw / "lib/x.o");
  auto before_a = ReadFile(sw / "lib/libx.a");
  auto report = Relocate(sw, {});
  REQUIRE(report.ok());
  CHECK(report->dynamic_elf_files == 0);
  CHECK(*ReadFile(sw / "lib/x.o") == *before_o);
  CHECK(*ReadFile(sw / "lib/libx.a") == *before_a);
}

TEST_CASE("Relocate removes libtool archives and makes pkg-config files relative",
          "[packaging][relocate]") {
  TestDir dir;
  auto tree = BuildSlurmLikeTree(dir.path(), "/opt/slurm/24.11");
  testing::WriteText(tree.software / "lib/notlibtool.la", "just data\n");
  auto report = Relocate(tree.software, {.install_prefix = "/opt/slurm/24.11"});
  REQUIRE(report.ok());
  CHECK(report->removed_files == std::vector<std::string>{"software/lib/libgreet.la"});
  CHECK_FALSE(fs::exists(tree.software / "lib/libgreet.la"));
  CHECK(fs::exists(tree.software / "lib/notlibtool.la"));
  CHECK(report->rewritten_pkgconfig == std::vector<std::string>{"software/lib/pkgconfig/greet.pc"});

  std::string pc = *ReadFile(tree.software / "lib/pkgconfig/greet.pc");
  CHECK(pc.find("prefix=${pcfiledir}/../..\n") == 0);
  CHECK(pc.find("libdir=${prefix}/lib\n") != std::string::npos);
  CHECK(pc.find("/opt/slurm") == std::string::npos);

  // pkg-config itself resolves the moved tree.
  const fs::path moved = dir.path() / "elsewhere/software";
  testing::CopyTree(tree.software, moved);
  auto r = MustRun({"pkg-config", "--cflags", "--libs", "greet"},
                   ScrubbedEnv({"PKG_CONFIG_PATH=" + (moved / "lib/pkgconfig").string()}));
  // pkg-config prints ${pcfiledir}/../.. unnormalised; compare real paths.
  std::map<std::string, fs::path> flags;
  for (absl::string_view token : absl::StrSplit(r.output, absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
    if (token.size() > 2) flags[std::string(token.substr(0, 2))] = std::string(token.substr(2));
  }
  INFO(r.output);
  CHECK(fs::canonical(flags["-I"]) == fs::canonical(moved / "include"));
  CHECK(fs::canonical(flags["-L"]) == fs::canonical(moved / "lib"));
}

TEST_CASE("RewritePkgConfig replaces whole path components only", "[packaging][relocate]") {
  std::string pc =
      "prefix=/sf/spack/opt/slurm-abc\n"
      "libdir=/sf/spack/opt/slurm-abc/lib\n"
      "other=/sf/spack/opt/slurm-abcdef/lib\n"
      "inc=/opt/slurm/24.11/include\n";
  std::string out = RewritePkgConfig(pc, "../..", {"/opt/slurm/24.11/"});
  CHECK(out ==
        "prefix=${pcfiledir}/../..\n"
        "libdir=${prefix}/lib\n"
        "other=/sf/spack/opt/slurm-abcdef/lib\n"
        "inc=${prefix}/include\n");
}

}  // namespace
}  // namespace sfactory::packaging
