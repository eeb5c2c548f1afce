// Shell completion scripts for `sfactory`, generated from the command table
// (command_table.h), so a new command or flag completes without touching
// this code. What completes:
//  - command names, two-word ones a word at a time (`sources` → add, list);
//  - each command's flags and the common flags;
//  - a flag's value: its `choices`; files for value name FILE, directories
//    for DIR; nothing else (free text);
//  - positionals: a command's `choices`; build ids for usage "<build>"
//    (from `sfactory __complete-builds`, passing on the --address, --config
//    and TLS flags already typed); files for "<file>".
// `--flag=value` is not completed (bash splits words at '=').
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "client/command_table.h"

namespace sfactory::client {

enum class Shell { kBash, kZsh, kFish };

// "bash", "zsh" or "fish"; InvalidArgument naming them otherwise.
absl::StatusOr<Shell> ParseShell(absl::string_view name);

// The script for `shell` over `commands` (hidden ones left out) and
// `common` flags. Bash: defines _sfactory and registers it with `complete`;
// zsh: a #compdef file (or source it after compinit); fish: `complete` lines.
std::string CompletionScript(Shell shell, absl::Span<const Command> commands,
                             absl::Span<const FlagSpec> common);
// The same over Commands() and CommonFlags().
std::string CompletionScript(Shell shell);

}  // namespace sfactory::client
