#include "daemon/service/flags.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sfactory::service {

const std::vector<DaemonFlag>& DaemonFlags() {
  static const auto* flags = new std::vector<DaemonFlag>{
      {"config", "FILE",
       "YAML config (default /etc/sfactory/sfactoryd.yaml as root, else "
       "$XDG_CONFIG_HOME/sfactory/sfactoryd.yaml, if it exists)"},
      {"listen", "ADDRESS", "listen address, repeatable; overrides the config's list", true},
      {"state-dir", "DIR", "overrides state_dir"},
      {"provider", "KIND", "overrides provider: auto, local or lxd"},
      {"log-level", "LEVEL", "overrides log_level"},
      {"show-config", "", "print the effective config with each value's origin and exit"},
      {"version", "", "print the version and exit"},
      {"help", "", "print this help and exit"},
  };
  return *flags;
}

const std::vector<DaemonExitCode>& DaemonExitCodes() {
  static const auto* codes = new std::vector<DaemonExitCode>{
      {0, "after a clean shutdown (SIGTERM/SIGINT), or after --help, --version, --show-config"},
      {1, "it cannot start (see the log line \"cannot start\")"},
      {2, "bad flags or config"},
  };
  return *codes;
}

std::string DaemonArgs::Value(const std::string& name) const {
  auto it = values.find(name);
  return it == values.end() || it->second.empty() ? "" : it->second.back();
}

absl::StatusOr<DaemonArgs> ParseDaemonFlags(const std::vector<std::string>& args) {
  DaemonArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i] == "-h" ? "--help" : args[i];
    const DaemonFlag* flag = nullptr;
    for (const DaemonFlag& f : DaemonFlags()) {
      if (a == absl::StrCat("--", f.name)) flag = &f;
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown argument '", args[i], "' (see sfactoryd --help)"));
    }
    std::vector<std::string>& slot = parsed.values[flag->name];
    if (!slot.empty() && !flag->repeatable) {
      return absl::InvalidArgumentError(absl::StrCat(a, " given more than once"));
    }
    if (*flag->value_name == '\0') {
      slot.push_back("");
      continue;
    }
    if (i + 1 >= args.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(a, " needs a value (", flag->value_name, ")"));
    }
    slot.push_back(args[++i]);
  }
  return parsed;
}

std::string DaemonFlagsHelp() {
  size_t width = 0;
  auto label = [](const DaemonFlag& f) {
    return absl::StrCat("--", f.name, *f.value_name ? " " : "", f.value_name);
  };
  for (const DaemonFlag& f : DaemonFlags()) width = std::max(width, label(f).size());
  std::string out;
  for (const DaemonFlag& f : DaemonFlags()) {
    absl::StrAppendFormat(&out, "  %-*s  %s\n", static_cast<int>(width), label(f), f.help);
  }
  return out;
}

}  // namespace sfactory::service
