#include "daemon/packaging/module.h"

#include <catch2/catch.hpp>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/fs.h"
#include "tests/skip.h"
#include "tests/unit/packaging/fixtures.h"
#include "tests/unit/packaging/modules_env.h"

namespace sfactory::packaging {
namespace {

namespace fs = std::filesystem;
using testing::ModuleShell;
using testing::TestDir;

ModuleRequest Request(const std::string& version) {
  ModuleRequest r;
  r.templates_dir = SFACTORY_SOURCE_DIR "/templates/modules";
  r.spec.set_slurm_version(version);
  r.spec.set_recipe("native");
  r.spec.set_os("debian-12");
  r.spec.set_arch("x86_64");
  r.build_id = "b3k9x2m4q7";
  r.digest = std::string(64, 'a');
  r.install_prefix = "/opt/slurm/24.11";
  return r;
}

// Renders both module files for each version into <dir>/{modules,modulefiles}.
void WriteModules(const fs::path& dir, const std::vector<std::string>& versions) {
  for (const std::string& v : versions) {
    auto req = Request(v);
    auto rendered = RenderModules(req);
    INFO(rendered.status());
    REQUIRE(rendered.ok());
    REQUIRE(WriteModuleTree(dir, req, *rendered).ok());
  }
}

TEST_CASE("RenderTemplate substitutes placeholders and leaves other @ signs alone",
          "[packaging][module]") {
  auto out = RenderTemplate("a @X@ b@Y@c user@host @ @@ @lower@", {{"X", "1"}, {"Y", "2"}});
  REQUIRE(out.ok());
  CHECK(*out == "a 1 b2c user@host @ @@ @lower@");
}

TEST_CASE("RenderTemplate fails on an unknown placeholder, naming it and its line",
          "[packaging][module]") {
  auto out = RenderTemplate("ok\nprefix = @PERFIX@\n", {{"PREFIX", "/opt"}});
  CHECK(out.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(out.status().message(), "@PERFIX@"));
  CHECK(absl::StrContains(out.status().message(), "line 2"));
}

TEST_CASE("RenderTemplate refuses values that could break out of a string literal",
          "[packaging][module]") {
  for (std::string bad : {"a\"b", "a]]b", "$x", "{x}", "a\\b", "a\nb", "[exec]"}) {
    INFO(bad);
    CHECK(RenderTemplate("@V@", {{"V", bad}}).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("RenderModules needs an absolute install prefix", "[packaging][module]") {
  auto req = Request("24.11.5");
  req.install_prefix = "opt/slurm";
  CHECK(RenderModules(req).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("The shipped templates render with every placeholder known", "[packaging][module]") {
  auto rendered = RenderModules(Request("24.11.5"));
  INFO(rendered.status());
  REQUIRE(rendered.ok());
  CHECK(absl::StrContains(rendered->lua, "os.getenv(\"SLURM_INSTALL_PREFIX\")"));
  CHECK(absl::StrContains(rendered->lua, "local recorded = \"/opt/slurm/24.11\""));
  CHECK(absl::StrContains(rendered->lua, "conflict(\"slurm\")"));
  CHECK_FALSE(absl::StrContains(rendered->lua, "LD_LIBRARY_PATH\","));
  CHECK(absl::StrContains(rendered->tcl, "#%Module1.0"));
  CHECK(absl::StrContains(rendered->tcl, "conflict slurm"));
  CHECK(absl::StrContains(rendered->tcl, "info exists ::env(SLURM_INSTALL_PREFIX)"));
}

// Runs the same checks through each module implementation.
void CheckPrefixHandling(ModuleShell& shell, const std::string& modulepath) {
  SECTION("without SLURM_INSTALL_PREFIX the recorded prefix is used") {
    auto r = shell.Run(modulepath, {"module load slurm/24.11.5"});
    CHECK(r.exit_code == 0);
    CHECK(r.var("SLURM_ROOT") == "/opt/slurm/24.11");
    CHECK(absl::StartsWith(r.var("PATH"), "/opt/slurm/24.11/bin:/opt/slurm/24.11/sbin:"));
    CHECK(r.var("SLURM_VERSION") == "24.11.5");
    CHECK(r.var("SLURM_BUILD_ID") == "b3k9x2m4q7");
    CHECK(r.var("SLURM_BUILD_RECIPE") == "native");
    CHECK(r.var("SLURM_BUILD_DIGEST") == std::string(64, 'a'));
    CHECK(r.var("LD_LIBRARY_PATH").empty());
    CHECK(absl::StartsWith(r.var("MANPATH"), "/opt/slurm/24.11/share/man"));
  }
  SECTION("SLURM_INSTALL_PREFIX names the software root") {
    auto r = shell.Run(modulepath, {"module load slurm/24.11.5"},
                       {"SLURM_INSTALL_PREFIX=/shared/apps/slurm/software/"});
    CHECK(r.exit_code == 0);
    CHECK(r.var("SLURM_ROOT") == "/shared/apps/slurm/software");
    CHECK(r.var("SLURM_PREFIX") == "/shared/apps/slurm/software");
    CHECK(absl::StartsWith(r.var("PATH"),
                           "/shared/apps/slurm/software/bin:/shared/apps/slurm/software/sbin:"));
    CHECK(absl::StrContains(r.var("PKG_CONFIG_PATH"), "/shared/apps/slurm/software/lib/pkgconfig"));
  }
  SECTION("an empty SLURM_INSTALL_PREFIX falls back to the recorded prefix") {
    auto r = shell.Run(modulepath, {"module load slurm/24.11.5"}, {"SLURM_INSTALL_PREFIX="});
    CHECK(r.var("SLURM_ROOT") == "/opt/slurm/24.11");
  }
  SECTION("unload restores PATH even after SLURM_INSTALL_PREFIX changed") {
    auto r = shell.Run(modulepath,
                       {"module load slurm/24.11.5", "export SLURM_INSTALL_PREFIX=/elsewhere",
                        "module unload slurm"},
                       {"SLURM_INSTALL_PREFIX=/first"});
    CHECK(r.var("SLURM_ROOT").empty());
    CHECK_FALSE(absl::StrContains(r.var("PATH"), "/first"));
    CHECK(r.var("PATH") == r.var("ORIGINAL_PATH"));
  }
  SECTION("a second slurm module never ends up loaded beside the first") {
    auto r = shell.Run(modulepath, {"module load slurm/24.11.5", "module load slurm/23.02.7"});
    std::vector<std::string> loaded = absl::StrSplit(r.var("LOADEDMODULES"), ':');
    INFO(r.output);
    CHECK(loaded.size() == 1);
    CHECK(absl::StartsWith(loaded.front(), "slurm/"));
    if (shell.kind() == ModuleShell::Kind::kEnvironmentModules) {
      // The Tcl implementation refuses the second load on the conflict.
      CHECK(absl::StrContains(r.output, "conflict"));
      CHECK(r.var("SLURM_VERSION") == "24.11.5");
    } else {
      // Lmod's one-name rule swaps them; the conflict never fires.
      CHECK(r.var("SLURM_VERSION") == loaded.front().substr(6));
    }
  }
}

TEST_CASE("The Lmod module works with the real Lmod", "[packaging][module][lmod]") {
  TestDir dir;
  WriteModules(dir.path(), {"24.11.5", "23.02.7"});
  auto shell = ModuleShell::Lmod(dir.path());
  CheckPrefixHandling(shell, (dir.path() / "modules").string());
}

TEST_CASE("The Tcl modulefile works through Lmod", "[packaging][module][lmod]") {
  TestDir dir;
  WriteModules(dir.path(), {"24.11.5", "23.02.7"});
  auto shell = ModuleShell::Lmod(dir.path());
  CheckPrefixHandling(shell, (dir.path() / "modulefiles").string());
}

TEST_CASE("The Tcl modulefile works with environment-modules", "[packaging][module][tcl]") {
  if (!ModuleShell::EnvironmentModulesInstalled()) {
    SF_SKIP("environment-modules not found at " << ModuleShell::kEnvironmentModulesDir
                                                 << "; run scripts/install-test-tools.sh");
  }
  TestDir dir;
  WriteModules(dir.path(), {"24.11.5", "23.02.7"});
  auto shell = ModuleShell::EnvironmentModules(dir.path());
  CheckPrefixHandling(shell, (dir.path() / "modulefiles").string());
}

TEST_CASE("The module help explains SLURM_INSTALL_PREFIX", "[packaging][module][lmod]") {
  TestDir dir;
  WriteModules(dir.path(), {"24.11.5"});
  auto shell = ModuleShell::Lmod(dir.path());
  auto r = shell.Run((dir.path() / "modules").string(), {"module help slurm/24.11.5 2>&1"});
  CHECK(absl::StrContains(r.output, "SLURM_INSTALL_PREFIX"));
  CHECK(absl::StrContains(r.output, "software root"));
}

}  // namespace
}  // namespace sfactory::packaging
