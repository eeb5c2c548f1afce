// Drives real module implementations (Lmod, environment-modules) from bash
// so tests can check what a module load really does to the environment.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace sfactory::packaging::testing {

struct ModuleRunResult {
  int exit_code = 0;  // of the last command
  std::string output;
  std::map<std::string, std::string> vars;
  std::string var(const std::string& name) const {
    auto it = vars.find(name);
    return it == vars.end() ? std::string() : it->second;
  }
};

class ModuleShell {
 public:
  enum class Kind { kLmod, kEnvironmentModules };
  static constexpr const char* kLmodInit = "/usr/share/lmod/lmod/init/bash";
  static constexpr const char* kEnvironmentModulesDir = "/opt/sfactory-test/environment-modules";

  // Fails the current test when Lmod is not installed (CI installs it).
  static ModuleShell Lmod(const std::filesystem::path& home);
  static bool EnvironmentModulesInstalled();
  static ModuleShell EnvironmentModules(const std::filesystem::path& home);

  Kind kind() const { return kind_; }

  // In a clean bash: `module use <modulepath>`, then each command; then
  // reports PATH, MANPATH, CPATH, PKG_CONFIG_PATH, LD_LIBRARY_PATH,
  // LOADEDMODULES, SLURM_* and ORIGINAL_PATH (PATH before any command).
  ModuleRunResult Run(const std::string& modulepath, const std::vector<std::string>& commands,
                      const std::vector<std::string>& env = {}) const;

 private:
  ModuleShell(Kind kind, std::string setup, std::filesystem::path home)
      : kind_(kind), setup_(std::move(setup)), home_(std::move(home)) {}
  Kind kind_;
  std::string setup_;  // bash that defines `module`
  std::filesystem::path home_;
};

}  // namespace sfactory::packaging::testing
