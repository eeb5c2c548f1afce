// Where things live by default, shared by the client and the daemon so that
// `sfactory` finds a default `sfactoryd` without flags.
#pragma once

#include <filesystem>
#include <string>
#include "absl/strings/string_view.h"

namespace sfactory {

// root: /run/sfactory/sfactoryd.sock. Others: $XDG_RUNTIME_DIR/sfactory/
// sfactoryd.sock, or /tmp/sfactory-<uid>/sfactoryd.sock without it.
std::filesystem::path DefaultSocketPath();

// root: /var/lib/sfactory. Others: $XDG_STATE_HOME/sfactory, or
// ~/.local/state/sfactory.
std::filesystem::path DefaultStateDir();

// root: /etc/sfactory/sfactoryd.yaml; others: $XDG_CONFIG_HOME/sfactory/sfactoryd.yaml.
std::filesystem::path DefaultConfigPath();

// The client's address: --address, else $SFACTORY_ADDRESS, else the default
// socket. A bare path becomes "unix:PATH"; "unix:", "dns:", "ipv4:" and
// "host:port" forms pass through.
std::string ResolveAddress(absl::string_view flag_value);
std::string NormalizeAddress(absl::string_view address);

}  // namespace sfactory
