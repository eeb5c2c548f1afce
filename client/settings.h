// Where the client connects and which credentials it uses, from four places
// in this order of precedence: flag > environment > client config file >
// default. Each value remembers where it came from, so that an error names
// the flag, variable or file:line to fix.
//
// The config file is --config, else $SFACTORY_CLIENT_CONFIG, else
// $XDG_CONFIG_HOME/sfactory/client.yaml (~/.config/sfactory/client.yaml). A
// missing default file is no error; a missing named one is. Keys: address,
// ca_file, token_file, cert_file, key_file. Relative paths in it are relative
// to the file's directory; "~/" is $HOME.
//
// The token itself never comes from a flag (command lines are visible to
// every user of the host): --token-file, $SFACTORY_TOKEN_FILE, $SFACTORY_TOKEN
// (for CI systems that inject secrets as variables), or the file's token_file.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sfactory::client {

// The environment, as a lookup a test can replace; nullopt when unset.
using GetEnv = std::function<std::optional<std::string>(absl::string_view name)>;
// ::getenv.
GetEnv ProcessEnv();

enum class SettingSource { kDefault, kConfigFile, kEnv, kFlag };

struct Setting {
  std::string value;  // empty when not set anywhere
  SettingSource source = SettingSource::kDefault;
  // For messages: "--ca-file", "SFACTORY_CA_FILE", "/home/u/.config/sfactory/client.yaml:3".
  std::string origin;
  bool empty() const { return value.empty(); }
};

// What the user gave on the command line; empty means not given.
struct SettingFlags {
  std::string address;
  std::string config;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string token_file;
};

struct ConnectionSettings {
  Setting address;  // normalized gRPC target ("unix:/path" for a path)
  Setting ca_file;
  Setting cert_file;
  Setting key_file;
  Setting token_file;
  Setting token;            // $SFACTORY_TOKEN only: the secret itself
  std::string config_file;  // the file that was read; empty when none
};

// The socket the client tries when nothing names an address:
// /run/sfactory/sfactoryd.sock when it exists (a shared build host), else
// the daemon's own default for this user (common/paths.h).
std::string DefaultAddress();

// Resolves every setting. INVALID_ARGUMENT (exit 2) for a config file that
// is malformed, has an unknown key or a non-string value ("FILE:LINE:COL:
// ..."), or was named but does not exist.
absl::StatusOr<ConnectionSettings> ResolveSettings(const SettingFlags& flags, const GetEnv& env);

}  // namespace sfactory::client
