#include "client/settings.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/paths.h"
#include "common/status.h"
#include "common/yaml_util.h"

namespace sfactory::client {
namespace fs = std::filesystem;
namespace {

constexpr char kSharedSocket[] = "/run/sfactory/sfactoryd.sock";

std::string Env(const GetEnv& env, absl::string_view name) {
  std::optional<std::string> v = env(name);
  return v ? *v : "";
}

// The client config file, and whether it had to exist.
struct ConfigPath {
  fs::path path;
  bool required = false;
  std::string origin;
};

ConfigPath FindConfig(const SettingFlags& flags, const GetEnv& env) {
  if (!flags.config.empty()) return {flags.config, true, "--config"};
  if (std::string v = Env(env, "SFACTORY_CLIENT_CONFIG"); !v.empty()) {
    return {v, true, "SFACTORY_CLIENT_CONFIG"};
  }
  fs::path base;
  if (std::string xdg = Env(env, "XDG_CONFIG_HOME"); !xdg.empty()) {
    base = xdg;
  } else if (std::string home = Env(env, "HOME"); !home.empty()) {
    base = fs::path(home) / ".config";
  } else {
    return {};
  }
  return {base / "sfactory" / "client.yaml", false, ""};
}

// A path from the config file: "~/x" is under $HOME, a relative one is
// relative to the file's directory. Not inlined: inlined into ReadConfig,
// gcc 12 -O2 warns (falsely) that the string may be used uninitialized.
[[gnu::noinline]] std::string ConfigFilePath(const std::string& value, const fs::path& file, const GetEnv& env) {
  if (absl::StartsWith(value, "~/")) {
    return (fs::path(Env(env, "HOME")) / value.substr(2)).string();
  }
  fs::path p(value);
  if (p.is_absolute()) return value;
  return (file.parent_path() / p).string();
}

// Fills the settings from the config file; leaves them alone when the
// default file does not exist.
absl::Status ReadConfig(const ConfigPath& config, const GetEnv& env, ConnectionSettings& s) {
  if (config.path.empty()) return absl::OkStatus();
  std::error_code ec;
  if (!fs::exists(config.path, ec)) {
    if (!config.required) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("the client config file ", config.path.string(),
                                                   " (from ", config.origin, ") does not exist"));
  }
  const std::string source = config.path.string();
  absl::StatusOr<YAML::Node> root = LoadYamlFile(config.path);
  if (!root.ok()) {
    // A file that exists but cannot be read is a config problem too (exit 2).
    if (root.status().code() == absl::StatusCode::kInvalidArgument) return root.status();
    return absl::InvalidArgumentError(root.status().message());
  }
  s.config_file = source;
  if (root->IsNull()) return absl::OkStatus();  // an empty file
  SF_RETURN_IF_ERROR(
      CheckKeys(source, *root, {"address", "ca_file", "token_file", "cert_file", "key_file"}));
  const std::vector<std::pair<const char*, Setting*>> keys = {
      {"address", &s.address},     {"ca_file", &s.ca_file},   {"token_file", &s.token_file},
      {"cert_file", &s.cert_file}, {"key_file", &s.key_file},
  };
  for (const auto& [key, setting] : keys) {
    const YAML::Node node = (*root)[key];
    if (!node) continue;
    // (Not SF_ASSIGN_OR_RETURN: gcc 12 -O2 then warns that `value` may be
    // uninitialized, a false positive.)
    absl::StatusOr<std::string> read = YamlString(source, node);
    if (!read.ok()) return read.status();
    const std::string value = *std::move(read);
    if (value.empty()) continue;
    const bool is_path = std::string_view(key) != "address";
    setting->value = is_path ? ConfigFilePath(value, config.path, env) : value;
    setting->source = SettingSource::kConfigFile;
    setting->origin = absl::StrCat(source, ":", node.Mark().line + 1);
  }
  return absl::OkStatus();
}

// Overrides `s` with the environment variable, then the flag, when set.
void Override(Setting& s, const GetEnv& env, const char* variable, const std::string& flag,
              const char* flag_name) {
  if (variable != nullptr) {
    if (std::string v = Env(env, variable); !v.empty()) s = {v, SettingSource::kEnv, variable};
  }
  if (!flag.empty()) s = {flag, SettingSource::kFlag, flag_name};
}

}  // namespace

GetEnv ProcessEnv() {
  return [](absl::string_view name) -> std::optional<std::string> {
    const char* v = ::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::string DefaultAddress() {
  std::error_code ec;
  if (fs::exists(kSharedSocket, ec)) return NormalizeAddress(kSharedSocket);
  return NormalizeAddress(DefaultSocketPath().string());
}

absl::StatusOr<ConnectionSettings> ResolveSettings(const SettingFlags& flags, const GetEnv& env) {
  ConnectionSettings s;
  SF_RETURN_IF_ERROR(ReadConfig(FindConfig(flags, env), env, s));
  Override(s.address, env, "SFACTORY_ADDRESS", flags.address, "--address");
  Override(s.ca_file, env, "SFACTORY_CA_FILE", flags.ca_file, "--ca-file");
  Override(s.cert_file, env, "SFACTORY_CERT_FILE", flags.cert_file, "--cert-file");
  Override(s.key_file, env, "SFACTORY_KEY_FILE", flags.key_file, "--key-file");
  // Token sources, strongest first: --token-file, $SFACTORY_TOKEN_FILE,
  // $SFACTORY_TOKEN, the config file's token_file.
  if (std::string t = Env(env, "SFACTORY_TOKEN");
      !t.empty() && flags.token_file.empty() && Env(env, "SFACTORY_TOKEN_FILE").empty()) {
    s.token = {t, SettingSource::kEnv, "SFACTORY_TOKEN"};
    s.token_file = {};
  }
  Override(s.token_file, env, "SFACTORY_TOKEN_FILE", flags.token_file, "--token-file");
  if (s.address.empty()) s.address = {DefaultAddress(), SettingSource::kDefault, "the default"};
  s.address.value = NormalizeAddress(s.address.value);
  return s;
}

}  // namespace sfactory::client
