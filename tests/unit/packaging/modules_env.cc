#include "tests/unit/packaging/modules_env.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/subprocess.h"

namespace sfactory::packaging::testing {

namespace fs = std::filesystem;

ModuleShell ModuleShell::Lmod(const fs::path& home) {
  INFO("Lmod is required for the [lmod] tests: apt-get install lmod");
  REQUIRE(fs::exists(kLmodInit));
  return ModuleShell(Kind::kLmod, absl::StrCat("source ", kLmodInit), home);
}

bool ModuleShell::EnvironmentModulesInstalled() {
  return fs::exists(fs::path(kEnvironmentModulesDir) / "modulecmd.tcl");
}

ModuleShell ModuleShell::EnvironmentModules(const fs::path& home) {
  std::string cmd = (fs::path(kEnvironmentModulesDir) / "modulecmd.tcl").string();
  return ModuleShell(Kind::kEnvironmentModules,
                     absl::StrCat("module() { eval \"$(tclsh ", cmd, " bash \"$@\")\"; }"), home);
}

ModuleRunResult ModuleShell::Run(const std::string& modulepath,
                                 const std::vector<std::string>& commands,
                                 const std::vector<std::string>& env) const {
  static const char* kVars[] = {"PATH",       "MANPATH",       "CPATH",
                                "PKG_CONFIG_PATH", "LD_LIBRARY_PATH", "LOADEDMODULES",
                                "SLURM_ROOT", "SLURM_PREFIX",  "SLURM_VERSION",
                                "SLURM_BUILD_ID", "SLURM_BUILD_DIGEST", "SLURM_BUILD_RECIPE",
                                "ORIGINAL_PATH"};
  std::string script = absl::StrCat(setup_, "\nORIGINAL_PATH=$PATH\nmodule use ", modulepath, "\n");
  for (const std::string& c : commands) absl::StrAppend(&script, c, "\n");
  absl::StrAppend(&script, "rc=$?\n");
  for (const char* v : kVars) absl::StrAppend(&script, "echo \"@@", v, "=${", v, "-}\"\n");
  absl::StrAppend(&script, "exit $rc\n");

  std::vector<std::string> full_env = ScrubbedEnv(env);
  for (std::string& e : full_env) {
    if (absl::StartsWith(e, "HOME=")) e = "HOME=" + home_.string();
  }
  auto r = RunCapture({"bash", "--noprofile", "--norc", "-c", script}, full_env);
  INFO(script);
  REQUIRE(r.ok());
  ModuleRunResult out;
  out.exit_code = r->exit_code;
  for (absl::string_view line : absl::StrSplit(r->output, '\n')) {
    if (absl::StartsWith(line, "@@")) {
      std::pair<std::string, std::string> kv = absl::StrSplit(line.substr(2), absl::MaxSplits('=', 1));
      out.vars[kv.first] = kv.second;
    } else {
      absl::StrAppend(&out.output, line, "\n");
    }
  }
  return out;
}

}  // namespace sfactory::packaging::testing
