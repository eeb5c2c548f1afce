// The command table and the help built from it (command_table.h).
#include "client/command_table.h"

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/output.h"

namespace sfactory::client {

#ifndef SFACTORY_VERSION
#define SFACTORY_VERSION "dev"
#endif

const char* ClientVersion() { return SFACTORY_VERSION; }

// Every command takes these.
const std::vector<FlagSpec>& CommonFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"address", FlagKind::kString, "ADDR",
       "daemon address: unix:PATH or PATH (the build host's socket), or HOST:PORT (TLS)"},
      {"ca-file", FlagKind::kString, "FILE", "TLS: trust the daemon's certificate from this CA"},
      {"token-file", FlagKind::kString, "FILE", "TLS: send the bearer token in this file"},
      {"cert-file", FlagKind::kString, "FILE", "TLS: client certificate (mutual TLS)"},
      {"key-file", FlagKind::kString, "FILE", "TLS: the client certificate's key"},
      {"config", FlagKind::kString, "FILE",
       "client config file (default: $XDG_CONFIG_HOME/sfactory/client.yaml)"},
      {"json", FlagKind::kBool, "", "print one JSON document on stdout and nothing else"},
      {"help", FlagKind::kBool, "", "show this help", 'h'},
  };
  return *flags;
}

const std::vector<ConnectionSetting>& ConnectionSettingTable() {
  static const auto* settings = new std::vector<ConnectionSetting>{
      {"address", "--address", "SFACTORY_ADDRESS", "address"},
      {"CA certificates", "--ca-file", "SFACTORY_CA_FILE", "ca_file"},
      {"token", "--token-file", "SFACTORY_TOKEN_FILE, SFACTORY_TOKEN", "token_file"},
      {"client certificate", "--cert-file", "SFACTORY_CERT_FILE", "cert_file"},
      {"client key", "--key-file", "SFACTORY_KEY_FILE", "key_file"},
      {"config file", "--config", "SFACTORY_CLIENT_CONFIG", "-"},
  };
  return *settings;
}

bool IsHidden(const Command& c) { return c.name[0] == '_'; }

// The connection part of `sfactory --help`.
std::string ConnectionHelp() {
  std::string out =
      "connecting:\n"
      "  On the build host the client talks to the daemon's unix socket\n"
      "  (/run/sfactory/sfactoryd.sock when it exists) and the daemon knows you by your uid.\n"
      "  From a workstation or CI give --address HOST:PORT: the client speaks TLS, trusting the\n"
      "  system's CAs or --ca-file, and sends a bearer token (an admin makes one with\n"
      "  `sfactory tokens create`). A token is never a flag value and never goes over a unix\n"
      "  socket. `sfactory whoami` shows who the daemon takes you for.\n"
      "  Each setting comes from the flag, else the environment, else the client config file:\n";
  Table table({"    SETTING", "FLAG", "ENVIRONMENT", "CONFIG KEY"});
  for (const ConnectionSetting& c : ConnectionSettingTable()) {
    table.Add({absl::StrCat("    ", c.setting), c.flag, c.environment, c.config_key});
  }
  absl::StrAppend(&out, table.Render(),
                  "  The config file is YAML, e.g.\n"
                  "    address: build.example.org:7443\n"
                  "    ca_file: ~/.config/sfactory/ca.pem\n"
                  "    token_file: ~/.config/sfactory/token\n");
  return out;
}

// The command table: the only list of commands.
const std::vector<Command>& Commands() {
  static const auto* table = new std::vector<Command>{
      {"submit", "<version>", "queue a build of a Slurm release (24.11 or 24.11.5) and follow its log",
       1,
       {
           {"recipe", FlagKind::kString, "NAME", "recipe: native, spack, ... (daemon default)"},
           {"variant", FlagKind::kList, "NAME", "recipe variant, e.g. gpu (repeatable)"},
           {"os", FlagKind::kString, "OS", "target OS image, e.g. debian-12 (daemon default)"},
           {"arch", FlagKind::kString, "ARCH", "target architecture (daemon's host arch)"},
           {"priority", FlagKind::kInt, "N", "higher runs first (default 0)"},
           {"force", FlagKind::kBool, "", "build again even if an identical build succeeded"},
           {"no-verify", FlagKind::kBool, "", "skip the verify stage"},
           {"keep-instance-on-failure", FlagKind::kBool, "",
            "keep the build instance when the build fails (debugging)"},
           {"request-id", FlagKind::kString, "ID",
            "idempotency key: a retried submit with the same id returns the same build"},
           {"detach", FlagKind::kBool, "", "print the build id and return at once"},
           {"progress", FlagKind::kString, "MODE",
            "auto, tty (live view of the steps), plain (the log), rawjson (JSON lines) or quiet", 0,
            {"auto", "tty", "plain", "rawjson", "quiet"}},
           {"fetch", FlagKind::kString, "DIR", "after success, fetch the artifacts into DIR"},
       },
       SubmitCommand},
      {"list", "", "list builds, newest first", 0,
       {
           {"state", FlagKind::kList, "STATE",
            "queued, running, succeeded, failed or cancelled (repeatable, or comma-separated)", 0,
            {"queued", "running", "succeeded", "failed", "cancelled"}},
           {"owner", FlagKind::kString, "USER", "only builds of this owner"},
           {"version", FlagKind::kString, "PREFIX", "only versions starting with this (24.11)"},
           {"limit", FlagKind::kInt, "N", "at most N builds per page (default 50, at most 1000)"},
           {"page-token", FlagKind::kString, "TOKEN", "continue from a previous listing"},
           {"all", FlagKind::kBool, "", "page through every matching build"},
       },
       ListCommand},
      {"status", "<build>", "show one build: state, phases, artifacts", 1, {}, StatusCommand},
      {"logs", "<build>", "print a build's log", 1,
       {
           {"follow", FlagKind::kBool, "", "keep printing until the build ends", 'f'},
           {"offset", FlagKind::kInt, "N", "start at byte N of the log"},
           {"progress", FlagKind::kString, "MODE",
            "auto, tty (live view of the steps), plain (the log), rawjson (JSON lines) or quiet", 0,
            {"auto", "tty", "plain", "rawjson", "quiet"}},
       },
       LogsCommand},
      {"cancel", "<build>", "cancel a queued or running build (owner or admin)", 1,
       {{"reason", FlagKind::kString, "TEXT", "why; recorded with the build"}},
       CancelCommand},
      {"fetch", "<build>", "download a build's artifacts (resumable, sha256-checked)", 1,
       {
           {"output", FlagKind::kString, "DIR", "where to put them (default: .)", 'o'},
           {"name", FlagKind::kString, "ARTIFACT", "fetch only this artifact"},
       },
       FetchCommand},
      {"install", "<build>",
       "install a build onto the cluster: software under --prefix, module files, symlink", 1,
       {
           {"prefix", FlagKind::kString, "DIR",
            "software root: <DIR>/<version>-<digest12>, and <DIR>/<version> links to it"},
           {"modules", FlagKind::kString, "DIR", "Lmod tree: writes DIR/slurm/<version>.lua"},
           {"tcl-modules", FlagKind::kString, "DIR",
            "Tcl modulefile tree: writes DIR/slurm/<version>"},
           {"from", FlagKind::kString, "DIR",
            "take the files from DIR (sfactory fetch -o DIR) instead of the daemon"},
           {"dry-run", FlagKind::kBool, "", "print what it would do and change nothing"},
       },
       InstallCommand},
      {"debug", "<build>",
       "download a failed build's debug bundle: scripts, env, config.log, log (owner or admin)", 1,
       {{"output", FlagKind::kString, "FILE",
         "where to put it (default: ./<build>-debug.tar.gz; a directory: into it)", 'o'}},
       DebugCommand},
      {"info", "", "daemon version, provider, recipes, Slurm versions, capacity", 0, {},
       InfoCommand},
      {"sources add", "<file>", "upload a source tarball into the daemon's cache", 1,
       {{"sha256", FlagKind::kString, "HEX", "refuse the upload unless the file has this digest"}},
       SourcesAddCommand},
      {"sources list", "", "list the source tarballs in the daemon's cache", 0, {},
       SourcesListCommand},
      {"images list", "", "list the provider's base images", 0, {}, ImagesListCommand},
      {"images rebuild", "", "rebuild a base image (admin)", 0,
       {
           {"os", FlagKind::kString, "OS", "which image (daemon default)"},
           {"arch", FlagKind::kString, "ARCH", "which architecture (daemon default)"},
           {"recipe", FlagKind::kString, "NAME", "which recipe's toolchain (daemon default)"},
       },
       ImagesRebuildCommand},
      {"images prune", "", "remove expired base images (admin)", 0,
       {{"all", FlagKind::kBool, "", "remove every base image, not only expired ones"}},
       ImagesPruneCommand},
      {"cache usage", "", "disk space of the daemon's state and caches, and what is free", 0, {},
       CacheUsageCommand},
      {"queue pause", "", "maintenance: builds are accepted and queued, none starts (admin)", 0,
       {{"reason", FlagKind::kString, "TEXT", "why; `sfactory info` shows it"}},
       QueuePauseCommand},
      {"queue resume", "", "start queued builds again after a pause (admin)", 0, {},
       QueueResumeCommand},
      {"whoami", "", "who the daemon takes you for (name, how, admin or not)", 0, {},
       WhoAmICommand},
      {"tokens create", "<name>", "create a bearer token for TLS callers (admin); printed once", 1,
       {
           {"admin", FlagKind::kBool, "", "callers with the token are admins"},
           {"user", FlagKind::kString, "USER", "act as this user (default: the token's name)"},
           {"expires", FlagKind::kString, "WHEN",
            "lifetime: Nd, Nh, Nm, Ns, or never (default 90d)"},
       },
       TokensCreateCommand},
      {"tokens list", "", "list the bearer tokens (admin)", 0, {}, TokensListCommand},
      {"tokens revoke", "<name>", "revoke a bearer token at once (admin)", 1, {},
       TokensRevokeCommand},
      {"completion", "<shell>", "print the shell completion script for bash, zsh or fish", 1, {},
       CompletionCommand, {"bash", "zsh", "fish"}},
      {"__complete-builds", "", "ids of recent builds, one a line; nothing when unreachable", 0,
       {}, CompleteBuildsCommand},
  };
  return *table;
}

std::string Synopsis(const Command& c) {
  return absl::StrCat(c.name, *c.usage ? " " : "", c.usage);
}

std::string MainHelp() {
  std::string out = absl::StrCat(
      "sfactory ", SFACTORY_VERSION,
      " - client of sfactoryd, the Slurm build service\n\n"
      "usage: sfactory <command> [arguments] [flags]\n"
      "       sfactory <command> --help\n\ncommands:\n");
  Table table({"", ""});
  for (const Command& c : Commands()) {
    if (!IsHidden(c)) table.Add({absl::StrCat("  ", Synopsis(c)), c.help});
  }
  std::string rows = table.Render();
  absl::StrAppend(&out, rows.substr(rows.find('\n') + 1));
  absl::StrAppend(&out, "\nflags every command takes:\n", FlagsHelp(CommonFlags()));
  absl::StrAppend(&out, "\n", ConnectionHelp());
  absl::StrAppend(&out, "\nexit codes:\n");
  for (const ExitCodeInfo& e : ExitCodeTable()) {
    absl::StrAppend(&out, "  ", static_cast<int>(e.code),
                    std::string(static_cast<int>(e.code) < 10 ? 3 : 2, ' '), e.meaning, "\n");
  }
  return out;
}

std::string CommandHelp(const Command& c) {
  std::string out = absl::StrCat("usage: sfactory ", Synopsis(c), " [flags]\n\n", c.help, "\n");
  if (!c.flags.empty()) absl::StrAppend(&out, "\nflags:\n", FlagsHelp(c.flags));
  absl::StrAppend(&out, "\ncommon flags:\n", FlagsHelp(CommonFlags()));
  return out;
}

}  // namespace sfactory::client
