#include "client/manpage.h"

#include <catch2/catch.hpp>

#include "client/command_table.h"
#include "client/exit_codes.h"
#include "client_test_util.h"

namespace sfactory::client {
namespace {

using testing::Contains;

TEST_CASE("RoffEscape escapes backslashes, hyphens and leading dots and quotes", "[client]") {
  CHECK(RoffEscape("a\\b") == "a\\eb");
  CHECK(RoffEscape("--state") == "\\-\\-state");
  CHECK(RoffEscape(".TH x") == "\\&.TH x");
  CHECK(RoffEscape("'quoted") == "\\&'quoted");
  CHECK(RoffEscape("one\n.two") == "one\n\\&.two");
  CHECK(RoffEscape("mid.dle it's") == "mid.dle it's");
}

TEST_CASE("RenderManPage writes man(7) macros and quotes arguments with spaces", "[client]") {
  ManPage page{"tool", "1", "does -things", "tool 1.0", "Manual", {"tool [flags]"}, {}};
  page.sections.push_back({"options", {"Text \\ here."}, {{"--flag", "VALUE", "sets it"},
                                                          {"-x", "", ".hidden"}}});
  const std::string roff = RenderManPage(page);
  CHECK(Contains(roff, ".TH TOOL 1 \"\" \"tool 1.0\" Manual\n"));
  CHECK(Contains(roff, ".SH NAME\ntool \\- does \\-things\n"));
  CHECK(Contains(roff, ".SH SYNOPSIS\n.B \"tool [flags]\"\n"));
  CHECK(Contains(roff, ".SH OPTIONS\nText \\e here.\n"));
  CHECK(Contains(roff, ".TP\n.BI \"\\-\\-flag \" VALUE\nsets it\n"));
  CHECK(Contains(roff, ".TP\n.B \\-x\n\\&.hidden\n"));
}

TEST_CASE("ClientManPage lists every command, flag, exit code and environment variable",
          "[client]") {
  const std::string roff = RenderManPage(ClientManPage());
  for (const Command& c : Commands()) {
    if (IsHidden(c)) {
      CHECK_FALSE(Contains(roff, RoffEscape(c.name)));
      continue;
    }
    CHECK(Contains(roff, RoffEscape(c.name)));
    for (const FlagSpec& f : c.flags) CHECK(Contains(roff, RoffEscape(absl::StrCat("--", f.name))));
  }
  for (const FlagSpec& f : CommonFlags()) {
    CHECK(Contains(roff, RoffEscape(absl::StrCat("--", f.name))));
  }
  for (const ExitCodeInfo& e : ExitCodeTable()) {
    CHECK(Contains(roff, absl::StrCat(".B ", static_cast<int>(e.code), "\n", RoffEscape(e.meaning))));
  }
  for (const ConnectionSetting& s : ConnectionSettingTable()) {
    CHECK(Contains(roff, RoffEscape(absl::string_view(s.environment).substr(0, 16))));
  }
  CHECK(Contains(roff, ".SH FILES"));
  CHECK(Contains(roff, ".SH ENVIRONMENT"));
}

TEST_CASE("DaemonManPage and ConfigManPage list the rows they are given", "[client]") {
  const std::string daemon = RenderManPage(
      DaemonManPage({{"--listen", "ADDRESS", "where"}}, {{"2", "", "bad flags"}}, "1.0"));
  CHECK(Contains(daemon, ".TH SFACTORYD 8"));
  CHECK(Contains(daemon, ".BI \"\\-\\-listen \" ADDRESS\nwhere\n"));
  CHECK(Contains(daemon, ".B 2\nbad flags\n"));
  const std::string config =
      RenderManPage(ConfigManPage({{"state_dir", "", "database (default: /var/lib)"}}, "1.0"));
  CHECK(Contains(config, ".TH SFACTORYD.YAML 5"));
  CHECK(Contains(config, ".B state_dir\ndatabase (default: /var/lib)\n"));
}

}  // namespace
}  // namespace sfactory::client
