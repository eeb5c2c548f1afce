// Man pages in roff (man(7) macros) from the tables that also print --help:
// sfactory(1) from the command table, exit codes and connection settings;
// sfactoryd(8) and sfactoryd.yaml(5) from rows the generator (gen_man.cc)
// copies out of the daemon's flag and config key tables. This library takes
// those rows as plain data so that the client does not depend on the daemon.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace sfactory::client {

// Text for a roff body line: backslashes become \e, hyphens \- (so they
// print as ASCII minus and can be copied), and a line starting with '.' or
// '\'' gets a leading \& so it is not read as a request.
std::string RoffEscape(absl::string_view text);

// One tagged paragraph (.TP): the bold tag, an optional italic argument
// ("--listen" "ADDRESS"), then the text.
struct ManEntry {
  std::string tag;
  std::string argument;
  std::string text;
};

struct ManSection {
  std::string title;                 // "OPTIONS"; printed upper-case as given
  std::vector<std::string> paragraphs;  // plain text, before the entries
  std::vector<ManEntry> entries;
};

struct ManPage {
  std::string name;     // "sfactory"
  std::string section;  // "1"
  std::string summary;  // NAME line: "sfactory \- ..." (without the name)
  std::string source;   // "sfactory 0.1.0"
  std::string manual;   // "sfactory Manual"
  std::vector<std::string> synopsis;  // one line each, literal
  std::vector<ManSection> sections;   // after NAME and SYNOPSIS
};

std::string RenderManPage(const ManPage& page);

// sfactory(1).
ManPage ClientManPage();

// sfactoryd(8): `flags` and `exit_codes` (tag = the number) from the
// daemon's tables.
ManPage DaemonManPage(std::vector<ManEntry> flags, std::vector<ManEntry> exit_codes,
                      absl::string_view version);

// sfactoryd.yaml(5): one entry per key (argument = default).
ManPage ConfigManPage(std::vector<ManEntry> keys, absl::string_view version);

}  // namespace sfactory::client
