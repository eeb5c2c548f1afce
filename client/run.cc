#include "client/run.h"

#include <unistd.h>

#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/command_table.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/output.h"
#include "common/echo.h"

namespace sfactory::client {
namespace {

// The command named by args[0] (and args[1] for two-word commands); sets
// `words` to how many arguments the name took.
const Command* FindCommand(const std::vector<std::string>& args, size_t first, size_t& words) {
  if (first + 1 < args.size()) {
    std::string two = absl::StrCat(args[first], " ", args[first + 1]);
    for (const Command& c : Commands()) {
      if (two == c.name) {
        words = 2;
        return &c;
      }
    }
  }
  for (const Command& c : Commands()) {
    if (args[first] == c.name) {
      words = 1;
      return &c;
    }
  }
  return nullptr;
}

// "add, list" for a group like "sources"; empty when `word` is no group.
std::string GroupMembers(const std::string& word) {
  std::string members;
  for (const Command& c : Commands()) {
    absl::string_view name = c.name;
    if (absl::ConsumePrefix(&name, absl::StrCat(word, " "))) {
      absl::StrAppend(&members, members.empty() ? "" : ", ", name);
    }
  }
  return members;
}

// A flag every command takes that needs a value (so `--address X` before
// the command is one flag with its value).
bool IsCommonValueFlag(absl::string_view arg) {
  for (const FlagSpec& f : CommonFlags()) {
    if (f.kind != FlagKind::kBool && arg == absl::StrCat("--", f.name)) return true;
  }
  return false;
}

// Errors may quote what the daemon or a build said: escaped like log bytes.
int Fail(std::ostream& err, const absl::Status& status, absl::string_view hint = "") {
  err << "sfactory: " << EscapeControl(status.message()) << "\n";
  if (!hint.empty()) err << hint << "\n";
  err.flush();
  return static_cast<int>(ExitCodeFor(status));
}

}  // namespace

int Run(const std::vector<std::string>& args, const RunOptions& options) {
  std::ostream& out = options.out ? *options.out : std::cout;
  std::ostream& err = options.err ? *options.err : std::cerr;

  // Common flags may come before the command: `sfactory --address X list`.
  std::vector<std::string> leading;
  size_t i = 0;
  for (; i < args.size() && absl::StartsWith(args[i], "-"); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      out << MainHelp();
      return 0;
    }
    if (a == "--version") {
      out << "sfactory " << ClientVersion() << "\n";
      return 0;
    }
    leading.push_back(a);
    if (IsCommonValueFlag(a) && i + 1 < args.size()) leading.push_back(args[++i]);
  }
  if (i == args.size()) {
    err << MainHelp();
    return static_cast<int>(ExitCode::kBadInput);
  }
  if (args[i] == "help") {
    if (i + 1 == args.size()) {
      out << MainHelp();
      return 0;
    }
    size_t words = 0;
    const Command* c = FindCommand(args, i + 1, words);
    if (c == nullptr) {
      return Fail(err, UsageError(absl::StrCat("no command \"", args[i + 1], "\"")),
                  "see `sfactory help`");
    }
    out << CommandHelp(*c);
    return 0;
  }

  size_t words = 0;
  const Command* command = FindCommand(args, i, words);
  if (command == nullptr) {
    std::string members = GroupMembers(args[i]);
    if (!members.empty()) {
      return Fail(err,
                  UsageError(absl::StrCat("sfactory ", args[i], " needs a subcommand: ", members)),
                  absl::StrCat("see `sfactory help`"));
    }
    return Fail(err, UsageError(absl::StrCat("unknown command \"", args[i], "\"")),
                "see `sfactory help`");
  }
  std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(i + words), args.end());
  rest.insert(rest.end(), leading.begin(), leading.end());
  std::vector<FlagSpec> specs = command->flags;
  specs.insert(specs.end(), CommonFlags().begin(), CommonFlags().end());

  const std::string hint = absl::StrCat("see `sfactory ", command->name, " --help`");
  absl::StatusOr<ParsedArgs> parsed = ParseFlags(rest, specs);
  if (!parsed.ok()) return Fail(err, parsed.status(), hint);
  if (parsed->Bool("help")) {
    out << CommandHelp(*command);
    return 0;
  }
  const size_t given = parsed->positional().size();
  if (given != static_cast<size_t>(command->positionals)) {
    std::string what = command->positionals == 0
                           ? absl::StrCat("takes no arguments, got \"", parsed->positional()[0], "\"")
                           : absl::StrCat("needs ", command->usage,
                                          given == 0 ? "" : absl::StrCat(", got ", given,
                                                                         " arguments"));
    return Fail(err, UsageError(absl::StrCat("sfactory ", command->name, " ", what)), hint);
  }

  CommandContext ctx(*parsed, out, err, options.connect, options.env ? options.env : ProcessEnv(),
                     options.out_is_terminal, options.err_is_terminal);
  absl::Status status = command->run(ctx);
  out.flush();
  if (!status.ok()) return Fail(err, status);
  return 0;
}

int Run(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  RunOptions options;
  options.out_is_terminal = ::isatty(STDOUT_FILENO) == 1;
  options.err_is_terminal = ::isatty(STDERR_FILENO) == 1;
  int code = Run(args, options);
  std::cout.flush();
  return code;
}

}  // namespace sfactory::client
