#include "common/paths.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace sfactory {
namespace fs = std::filesystem;
namespace {

std::string Env(const char* name) {
  const char* v = ::getenv(name);
  return v ? v : "";
}

fs::path Home() {
  std::string home = Env("HOME");
  return home.empty() ? fs::path("/") : fs::path(home);
}

}  // namespace

fs::path DefaultSocketPath() {
  if (::geteuid() == 0) return "/run/sfactory/sfactoryd.sock";
  std::string runtime = Env("XDG_RUNTIME_DIR");
  if (!runtime.empty()) return fs::path(runtime) / "sfactory" / "sfactoryd.sock";
  return fs::path(absl::StrCat("/tmp/sfactory-", ::geteuid())) / "sfactoryd.sock";
}

fs::path DefaultStateDir() {
  if (::geteuid() == 0) return "/var/lib/sfactory";
  std::string state = Env("XDG_STATE_HOME");
  if (!state.empty()) return fs::path(state) / "sfactory";
  return Home() / ".local" / "state" / "sfactory";
}

fs::path DefaultConfigPath() {
  if (::geteuid() == 0) return "/etc/sfactory/sfactoryd.yaml";
  std::string config = Env("XDG_CONFIG_HOME");
  if (!config.empty()) return fs::path(config) / "sfactory" / "sfactoryd.yaml";
  return Home() / ".config" / "sfactory" / "sfactoryd.yaml";
}

std::string NormalizeAddress(absl::string_view address) {
  if (absl::StartsWith(address, "/")) return absl::StrCat("unix:", address);
  return std::string(address);
}

std::string ResolveAddress(absl::string_view flag_value) {
  if (!flag_value.empty()) return NormalizeAddress(flag_value);
  std::string env = Env("SFACTORY_ADDRESS");
  if (!env.empty()) return NormalizeAddress(env);
  return NormalizeAddress(DefaultSocketPath().string());
}

}  // namespace sfactory
