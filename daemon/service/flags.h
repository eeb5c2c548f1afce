// sfactoryd's command-line flags as one table: the parser and --help in
// main.cc and the sfactoryd(8) man page (client/gen_man.cc) read it. Its own
// small library (sfactory::daemon_flags) so the man page generator need not
// link the whole service.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sfactory::service {

struct DaemonFlag {
  const char* name;        // "listen" for --listen
  const char* value_name;  // "ADDRESS"; "" for a flag without a value
  const char* help;
  bool repeatable = false;
};

// Every flag, in the order --help lists them.
const std::vector<DaemonFlag>& DaemonFlags();

struct DaemonExitCode {
  int code;
  const char* meaning;
};
const std::vector<DaemonExitCode>& DaemonExitCodes();

// The parsed command line: flag name → its values (one "" for a flag
// without a value).
struct DaemonArgs {
  std::map<std::string, std::vector<std::string>> values;
  bool Has(const std::string& name) const { return values.count(name) != 0; }
  // The last value, or "".
  std::string Value(const std::string& name) const;
};

// `args` without the program name. InvalidArgument for an unknown flag, a
// missing value or a repeated single flag; the message says what to do.
absl::StatusOr<DaemonArgs> ParseDaemonFlags(const std::vector<std::string>& args);

// The flag lines of --help: "  --listen ADDRESS  help".
std::string DaemonFlagsHelp();

}  // namespace sfactory::service
