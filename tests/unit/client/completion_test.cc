#include "client/completion.h"

#include <catch2/catch.hpp>

#include "client/command_table.h"
#include "client_test_util.h"
#include "fake_daemon.h"

namespace sfactory::client {
namespace {

using testing::Contains;
using testing::RunClient;

const Shell kShells[] = {Shell::kBash, Shell::kZsh, Shell::kFish};

TEST_CASE("CompletionScript names every command and flag of the table", "[client]") {
  for (Shell shell : kShells) {
    const std::string script = CompletionScript(shell);
    INFO(script);
    for (const Command& c : Commands()) {
      if (IsHidden(c)) {
        CHECK_FALSE(Contains(script, absl::StrCat("'", c.name, "'")));
        continue;
      }
      absl::string_view name = c.name;
      size_t space = name.find(' ');
      CHECK(Contains(script, name.substr(0, space)));
      if (space != absl::string_view::npos) CHECK(Contains(script, name.substr(space + 1)));
      for (const FlagSpec& f : c.flags) {
        // bash/zsh list "--name"; fish says "-l name".
        CHECK((Contains(script, absl::StrCat("--", f.name)) ||
               Contains(script, absl::StrCat("-l ", f.name, " "))));
        for (const char* choice : f.choices) CHECK(Contains(script, choice));
      }
    }
    for (const FlagSpec& f : CommonFlags()) {
      CHECK((Contains(script, absl::StrCat("--", f.name)) ||
             Contains(script, absl::StrCat("-l ", f.name, " "))));
    }
    CHECK(Contains(script, "__complete-builds"));
  }
}

TEST_CASE("CompletionScript follows the table it is given", "[client]") {
  std::vector<Command> commands = {
      {"frob", "<build>", "frob a build", 1,
       {{"mode", FlagKind::kString, "MODE", "how", 0, {"fast", "slow"}},
        {"into", FlagKind::kString, "DIR", "where"}},
       nullptr},
      {"widgets grow", "", "grow", 0, {}, nullptr},
      {"__secret", "", "hidden", 0, {}, nullptr},
  };
  std::vector<FlagSpec> common = {{"address", FlagKind::kString, "ADDR", "where"}};
  const std::string bash = CompletionScript(Shell::kBash, commands, common);
  CHECK(Contains(bash, "'frob|--mode') echo 'words fast slow'"));
  CHECK(Contains(bash, "'frob|--into') echo 'dir'"));
  CHECK(Contains(bash, "'frob') echo '1 build'"));
  CHECK(Contains(bash, "'widgets') echo 'grow'"));
  CHECK(Contains(bash, "--address) return 0"));
  CHECK_FALSE(Contains(bash, "__secret"));
  const std::string fish = CompletionScript(Shell::kFish, commands, common);
  CHECK(Contains(fish, "-l mode -x -a 'fast slow'"));
  CHECK(Contains(fish, "'__sfactory_is 1 frob' -x -a '(__sfactory_builds)'"));
  CHECK_FALSE(Contains(fish, "__secret"));
}

TEST_CASE("ParseShell takes bash, zsh and fish and names them otherwise", "[client]") {
  CHECK(*ParseShell("zsh") == Shell::kZsh);
  absl::StatusOr<Shell> bad = ParseShell("tcsh");
  REQUIRE_FALSE(bad.ok());
  CHECK(Contains(bad.status().message(), "bash, zsh or fish"));
}

TEST_CASE("sfactory completion prints the script; an unknown shell is a usage error",
          "[client]") {
  testing::RunResult r = RunClient("", {"completion", "bash"});
  CHECK(r.code == 0);
  CHECK(Contains(r.out, "complete -F _sfactory sfactory"));
  testing::RunResult bad = RunClient("", {"completion", "tcsh"});
  CHECK(bad.code == 2);
  CHECK(Contains(bad.err, "bash, zsh or fish"));
}

TEST_CASE("sfactory __complete-builds prints build ids, and nothing when unreachable",
          "[client]") {
  testing::FakeDaemon daemon;
  daemon.AddSucceededBuild("b-one", {});
  daemon.AddSucceededBuild("b-two", {});
  testing::RunResult r = RunClient(daemon.address(), {"__complete-builds"});
  CHECK(r.code == 0);
  CHECK(Contains(r.out, "b-one\n"));
  CHECK(Contains(r.out, "b-two\n"));

  TempDir dir = testing::NewTempDir("/tmp/sf-complete-");
  const std::string nowhere = absl::StrCat("unix:", (dir.path() / "none.sock").string());
  testing::RunResult gone = RunClient(nowhere, {"__complete-builds"});
  CHECK(gone.code == 0);
  CHECK(gone.out.empty());
  CHECK(gone.err.empty());
}

TEST_CASE("Hidden commands stay out of --help", "[client]") {
  testing::RunResult r = RunClient("", {"--help"});
  CHECK(Contains(r.out, "completion <shell>"));
  CHECK_FALSE(Contains(r.out, "__complete-builds"));
}

}  // namespace
}  // namespace sfactory::client
