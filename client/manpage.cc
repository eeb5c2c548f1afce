// Man pages from the tables (manpage.h).
#include "client/manpage.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/command_table.h"
#include "client/exit_codes.h"

namespace sfactory::client {
namespace {

// A macro argument: escaped, and quoted (with " as \(dq) when it has a space.
std::string Arg(absl::string_view text) {
  std::string escaped;
  for (char c : RoffEscape(text)) {
    if (c == '"') {
      escaped += "\\(dq";
    } else {
      escaped += c;
    }
  }
  if (escaped.find(' ') == std::string::npos && !escaped.empty()) return escaped;
  return absl::StrCat("\"", escaped, "\"");
}

std::string FlagTag(const FlagSpec& f) {
  std::string tag = absl::StrCat("--", f.name);
  if (f.short_name != 0) tag = absl::StrCat("-", std::string(1, f.short_name), ", ", tag);
  return tag;
}

std::vector<ManEntry> FlagEntries(const std::vector<FlagSpec>& flags) {
  std::vector<ManEntry> entries;
  for (const FlagSpec& f : flags) {
    entries.push_back({FlagTag(f), f.kind == FlagKind::kBool ? "" : f.value_name, f.help});
  }
  return entries;
}

ManPage NewPage(std::string name, std::string section, std::string summary,
                absl::string_view version) {
  ManPage page;
  page.name = std::move(name);
  page.section = std::move(section);
  page.summary = std::move(summary);
  page.source = absl::StrCat("sfactory ", version);
  page.manual = "sfactory Manual";
  return page;
}

void Add(ManPage& page, std::string title, std::vector<std::string> paragraphs,
         std::vector<ManEntry> entries = {}) {
  page.sections.push_back({std::move(title), std::move(paragraphs), std::move(entries)});
}

}  // namespace

std::string RoffEscape(absl::string_view text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    line_start = c == '\n';
    switch (c) {
      case '\\':
        out += "\\e";
        break;
      case '-':
        out += "\\-";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string RenderManPage(const ManPage& page) {
  std::string out = absl::StrCat(".TH ", Arg(absl::AsciiStrToUpper(page.name)), " ", page.section,
                                 " \"\" ", Arg(page.source), " ", Arg(page.manual), "\n");
  absl::StrAppend(&out, ".SH NAME\n", RoffEscape(page.name), " \\- ", RoffEscape(page.summary),
                  "\n");
  if (!page.synopsis.empty()) {
    absl::StrAppend(&out, ".SH SYNOPSIS\n");
    for (const std::string& line : page.synopsis) {
      absl::StrAppend(&out, ".B ", Arg(line), "\n.br\n");
    }
  }
  for (const ManSection& s : page.sections) {
    absl::StrAppend(&out, ".SH ", Arg(absl::AsciiStrToUpper(s.title)), "\n");
    bool first = true;
    for (const std::string& p : s.paragraphs) {
      if (!first) absl::StrAppend(&out, ".PP\n");
      first = false;
      absl::StrAppend(&out, RoffEscape(p), "\n");
    }
    for (const ManEntry& e : s.entries) {
      absl::StrAppend(&out, ".TP\n");
      if (e.argument.empty()) {
        absl::StrAppend(&out, ".B ", Arg(e.tag), "\n");
      } else {
        absl::StrAppend(&out, ".BI ", Arg(absl::StrCat(e.tag, " ")), " ", Arg(e.argument), "\n");
      }
      absl::StrAppend(&out, RoffEscape(e.text), "\n");
    }
  }
  return out;
}

ManPage ClientManPage() {
  ManPage page = NewPage("sfactory", "1", "client of sfactoryd, the Slurm build service",
                         ClientVersion());
  page.synopsis = {"sfactory <command> [arguments] [flags]", "sfactory <command> --help",
                   "sfactory --version"};

  Add(page, "DESCRIPTION", {
      "sfactory submits Slurm builds to sfactoryd, follows their logs and fetches the "
      "relocatable packages they produce. Flags and arguments may be mixed; the common flags may "
      "also come before the command.",
      "Shell completions: sfactory completion bash|zsh|fish prints a script for that shell."});

  ManSection commands{"COMMANDS"};
  for (const Command& c : Commands()) {
    if (IsHidden(c)) continue;
    commands.entries.push_back({c.name, c.usage, c.help});
  }
  page.sections.push_back(std::move(commands));

  // Each command's flags as a section of their own: roff has no nested .TP
  // that all man(1) renderers agree on.
  for (const Command& c : Commands()) {
    if (IsHidden(c) || c.flags.empty()) continue;
    ManSection s{absl::StrCat("OPTIONS OF ", c.name)};
    s.entries = FlagEntries(c.flags);
    page.sections.push_back(std::move(s));
  }
  Add(page, "COMMON OPTIONS", {"Every command takes these."}, FlagEntries(CommonFlags()));

  ManSection env{"ENVIRONMENT"};
  env.paragraphs = {
      "Each connection setting comes from its flag, else the environment, else the client "
      "config file. On the build host the client talks to the daemon's unix socket and the "
      "daemon knows you by your uid; with an address HOST:PORT it speaks TLS and sends a bearer "
      "token (made by an admin with sfactory tokens create)."};
  for (const ConnectionSetting& s : ConnectionSettingTable()) {
    for (absl::string_view var : absl::StrSplit(s.environment, ", ")) {
      std::string text = absl::StrCat("the ", s.setting, " (flag ", s.flag);
      if (absl::string_view(s.config_key) != "-") {
        absl::StrAppend(&text, ", config key ", s.config_key);
      }
      absl::StrAppend(&text, ")");
      env.entries.push_back({std::string(var), "", text});
    }
  }
  env.entries.push_back(
      {"XDG_CONFIG_HOME", "", "where the default client config file is looked for"});
  page.sections.push_back(std::move(env));

  Add(page, "FILES", {}, {
      {"$XDG_CONFIG_HOME/sfactory/client.yaml", "",
       "the client config file (~/.config/sfactory/client.yaml without XDG_CONFIG_HOME): YAML "
       "with the keys address, ca_file, token_file, cert_file, key_file"},
      {"/run/sfactory/sfactoryd.sock", "", "the system daemon's socket, used when it exists"},
  });

  ManSection exit_status{"EXIT STATUS"};
  for (const ExitCodeInfo& e : ExitCodeTable()) {
    exit_status.entries.push_back({absl::StrCat(static_cast<int>(e.code)), "", e.meaning});
  }
  page.sections.push_back(std::move(exit_status));

  Add(page, "SEE ALSO", {"sfactoryd(8), sfactoryd.yaml(5), and docs/USER_GUIDE.md."});
  return page;
}

ManPage DaemonManPage(std::vector<ManEntry> flags, std::vector<ManEntry> exit_codes,
                      absl::string_view version) {
  ManPage page = NewPage("sfactoryd", "8", "the sfactory build daemon", version);
  page.synopsis = {"sfactoryd [flags]"};
  Add(page, "DESCRIPTION", {
      "sfactoryd owns the build queue, the caches and the provider (LXD or local) and serves "
      "the sfactory.v1 gRPC API on a unix socket and, with TLS, on TCP. Flags override the "
      "config file (see sfactoryd.yaml(5)); --show-config prints every value with where it "
      "came from."});
  Add(page, "OPTIONS", {}, std::move(flags));
  Add(page, "SIGNALS", {}, {{"SIGTERM, SIGINT", "",
                      "stop accepting, end watch streams (clients resume), stop running builds "
                      "and requeue them without counting an attempt, close the store, exit 0"}});
  Add(page, "FILES", {}, {
      {"/etc/sfactory/sfactoryd.yaml", "",
       "the config file read, when it exists and --config is not given, by a daemon running as "
       "root; other users' daemons read $XDG_CONFIG_HOME/sfactory/sfactoryd.yaml"},
      {"/run/sfactory/sfactoryd.sock", "", "the unix socket when running as root"},
      {"/var/lib/sfactory", "", "the state directory when running as root"},
  });
  Add(page, "ENVIRONMENT", {}, {
      {"SOURCE_DATE_EPOCH", "", "default of the source_date_epoch key"},
      {"XDG_STATE_HOME, XDG_RUNTIME_DIR, XDG_CONFIG_HOME", "",
       "where a daemon not running as root keeps its state, socket and config"},
  });
  Add(page, "EXIT STATUS", {}, std::move(exit_codes));
  Add(page, "SEE ALSO", {"sfactory(1), sfactoryd.yaml(5), and docs/OPERATOR_GUIDE.md."});
  return page;
}

ManPage ConfigManPage(std::vector<ManEntry> keys, absl::string_view version) {
  ManPage page = NewPage("sfactoryd.yaml", "5", "configuration of sfactoryd", version);
  Add(page, "DESCRIPTION", {
      absl::StrCat("sfactoryd reads a YAML mapping of these keys from "
                   "/etc/sfactory/sfactoryd.yaml (root; others: "
                   "$XDG_CONFIG_HOME/sfactory/sfactoryd.yaml) or the file given with --config. Every key is optional; an unknown key or "
                   "a bad value stops the daemon with the file and line. sfactoryd "
                   "--show-config prints the effective values and where each came from.")});
  Add(page, "KEYS", {"Each key with its default."}, std::move(keys));
  Add(page, "FILES", {}, {
      {"/etc/sfactory/sfactoryd.yaml", "", "the config file of a daemon running as root"},
      {"$XDG_CONFIG_HOME/sfactory/sfactoryd.yaml", "", "the config file of other users' daemons"},
      {"/etc/sfactory/catalog.d", "", "drop-in catalog files (the catalog_dirs default)"}});
  Add(page, "SEE ALSO", {"sfactoryd(8), sfactory(1)."});
  return page;
}

}  // namespace sfactory::client
