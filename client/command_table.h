// The one table of `sfactory` commands and flags. `--help`, the man page,
// the shell completions and the dispatcher in run.cc all read it, so they
// cannot disagree.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/flags.h"

namespace sfactory::client {

class CommandContext;

struct Command {
  const char* name;   // "submit", or "sources add" for a two-word command
  const char* usage;  // positional arguments: "<version>"
  const char* help;   // one line
  int positionals;    // how many positional arguments it takes
  std::vector<FlagSpec> flags;
  absl::Status (*run)(CommandContext&);
  // When not empty, the values the positional argument takes (completions
  // offer them; the command checks them).
  std::vector<const char*> choices = {};
};

// Commands named "__..." are for scripts (the shell completions): not in
// --help, the man page or the completions.
bool IsHidden(const Command& c);

// One connection setting: where it comes from (help, man page ENVIRONMENT).
struct ConnectionSetting {
  const char* setting;      // "address"
  const char* flag;         // "--address"
  const char* environment;  // "SFACTORY_ADDRESS" (several: ", "-separated)
  const char* config_key;   // "address", or "-" when the config file has none
};
const std::vector<ConnectionSetting>& ConnectionSettingTable();

// Flags every command takes.
const std::vector<FlagSpec>& CommonFlags();
// Every command, in the order `sfactory --help` lists them.
const std::vector<Command>& Commands();
// "submit <version>".
std::string Synopsis(const Command& c);
// The connection part of `sfactory --help`.
std::string ConnectionHelp();
// `sfactory --help` and `sfactory <command> --help`.
std::string MainHelp();
std::string CommandHelp(const Command& c);
// The client's version ("dev" outside a CMake build).
const char* ClientVersion();

}  // namespace sfactory::client
