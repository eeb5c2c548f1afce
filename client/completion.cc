// Completion scripts from the command table (completion.h), and the two
// commands that use them.
//
// Bash and zsh share generated lookup functions (plain `case` statements
// that both shells read the same way); each has a small driver that finds
// the command among the typed words. Fish gets `complete` lines.
#include "client/completion.h"

#include <initializer_list>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "client/commands.h"
#include "client/exit_codes.h"

namespace sfactory::client {
namespace {

// How a value completes: "words a b c" for a fixed set, else what `name`
// maps to in `by_name`, else `otherwise`.
std::string ValueKind(const std::vector<const char*>& choices, absl::string_view name,
                      std::initializer_list<std::pair<absl::string_view, const char*>> by_name,
                      const char* otherwise) {
  if (!choices.empty()) return absl::StrCat("words ", absl::StrJoin(choices, " "));
  for (const auto& [n, kind] : by_name) {
    if (name == n) return kind;
  }
  return otherwise;
}

// A flag's value: "words ...", "file", "dir" or "text".
std::string FlagValueKind(const FlagSpec& f) {
  return ValueKind(f.choices, f.value_name, {{"FILE", "file"}, {"DIR", "dir"}}, "text");
}

// A command's positional: "words ...", "build", "file", or "" (free text).
std::string PositionalKind(const Command& c) {
  return ValueKind(c.choices, c.usage, {{"<build>", "build"}, {"<file>", "file"}}, "");
}

// 'text' for sh, bash, zsh and fish alike (fish also reads \' and \\ there,
// so it gets its own quoting).
std::string ShQuote(absl::string_view s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "'\\''"}}), "'");
}
std::string FishQuote(absl::string_view s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"\\", "\\\\"}, {"'", "\\'"}}), "'");
}

std::vector<std::string> FlagWords(const FlagSpec& f) {
  std::vector<std::string> words = {absl::StrCat("--", f.name)};
  if (f.short_name != 0) words.push_back(absl::StrCat("-", std::string(1, f.short_name)));
  return words;
}

// What both bash and zsh (and fish, partly) need from the table.
struct Model {
  std::vector<const Command*> commands;
  std::vector<std::string> top;  // first words, in table order
  std::map<std::string, std::vector<std::string>> groups;  // "sources" → add, list
  std::vector<FlagSpec> common;
  std::vector<std::string> connection_flags;  // common flags with a value: passed on
};

Model MakeModel(absl::Span<const Command> commands, absl::Span<const FlagSpec> common) {
  Model m;
  m.common.assign(common.begin(), common.end());
  std::set<std::string> seen;
  for (const Command& c : commands) {
    if (IsHidden(c)) continue;
    m.commands.push_back(&c);
    absl::string_view name = c.name;
    size_t space = name.find(' ');
    std::string first(name.substr(0, space));
    if (seen.insert(first).second) m.top.push_back(first);
    if (space != absl::string_view::npos) {
      m.groups[first].push_back(std::string(name.substr(space + 1)));
    }
  }
  for (const FlagSpec& f : common) {
    if (f.kind != FlagKind::kBool) m.connection_flags.push_back(absl::StrCat("--", f.name));
  }
  return m;
}

// The lookup functions bash and zsh share.
std::string ShellData(const Model& m) {
  std::string out = absl::StrCat("_sfactory_top() { echo ", ShQuote(absl::StrJoin(m.top, " ")),
                                 "; }\n\n# _sfactory_group WORD: the second words of a group\n"
                                 "_sfactory_group() {\n  case $1 in\n");
  for (const auto& [group, members] : m.groups) {
    absl::StrAppend(&out, "    ", ShQuote(group), ") echo ", ShQuote(absl::StrJoin(members, " ")),
                    " ;;\n");
  }
  absl::StrAppend(&out, "    *) return 1 ;;\n  esac\n}\n\n");

  std::vector<std::string> common_words;
  for (const FlagSpec& f : m.common) {
    for (std::string& w : FlagWords(f)) common_words.push_back(std::move(w));
  }
  absl::StrAppend(&out, "# _sfactory_flags COMMAND: its flags and the common ones\n"
                        "_sfactory_flags() {\n  case $1 in\n    '') echo --version ;;\n");
  for (const Command* c : m.commands) {
    std::vector<std::string> words;
    for (const FlagSpec& f : c->flags) {
      for (std::string& w : FlagWords(f)) words.push_back(std::move(w));
    }
    if (!words.empty()) {
      absl::StrAppend(&out, "    ", ShQuote(c->name), ") echo ", ShQuote(absl::StrJoin(words, " ")),
                      " ;;\n");
    }
  }
  absl::StrAppend(&out, "  esac\n  echo ", ShQuote(absl::StrJoin(common_words, " ")), "\n}\n\n");

  absl::StrAppend(&out,
                  "# _sfactory_value COMMAND FLAG: how FLAG's value completes (words LIST, file,\n"
                  "# dir, text); fails when FLAG takes no value\n"
                  "_sfactory_value() {\n  case \"$1|$2\" in\n");
  for (const Command* c : m.commands) {
    for (const FlagSpec& f : c->flags) {
      if (f.kind == FlagKind::kBool) continue;
      for (const std::string& w : FlagWords(f)) {
        absl::StrAppend(&out, "    ", ShQuote(absl::StrCat(c->name, "|", w)), ") echo ",
                        ShQuote(FlagValueKind(f)), " ;;\n");
      }
    }
  }
  for (const FlagSpec& f : m.common) {
    if (f.kind == FlagKind::kBool) continue;
    for (const std::string& w : FlagWords(f)) {
      absl::StrAppend(&out, "    *", ShQuote(absl::StrCat("|", w)), ") echo ",
                      ShQuote(FlagValueKind(f)), " ;;\n");
    }
  }
  absl::StrAppend(&out, "    *) return 1 ;;\n  esac\n}\n\n");

  absl::StrAppend(&out,
                  "# _sfactory_positional COMMAND: how many positionals, and how they complete\n"
                  "_sfactory_positional() {\n  case $1 in\n");
  for (const Command* c : m.commands) {
    absl::StrAppend(&out, "    ", ShQuote(c->name), ") echo ",
                    ShQuote(absl::StrCat(c->positionals, " ", PositionalKind(*c))), " ;;\n");
  }
  absl::StrAppend(&out, "    *) echo 0 ;;\n  esac\n}\n\n");

  absl::StrAppend(&out,
                  "# _sfactory_connection FLAG: passed on to `sfactory __complete-builds`\n"
                  "_sfactory_connection() {\n  case $1 in\n    ",
                  absl::StrJoin(m.connection_flags, "|"), ") return 0 ;;\n    ",
                  absl::StrJoin(m.connection_flags, "=*|"),
                  "=*) return 0 ;;\n  esac\n  return 1\n}\n\n"
                  "# Build ids from the daemon the typed flags name ($prog and $conn: the caller's)\n"
                  "_sfactory_builds() {\n"
                  "  command \"${prog:-sfactory}\" __complete-builds \"${conn[@]}\" 2> /dev/null\n"
                  "}\n\n");
  return out;
}

// The word scan both drivers share: `w` is word i, `n` the current index.
// Sets cmd (the command, "" while incomplete), grp (a group's first word),
// pos (positionals typed), conn (connection flags typed).
constexpr absl::string_view kScan = R"SH(    w=${words[i]}
    if [[ $w == -* ]]; then
      if _sfactory_connection "$w"; then
        conn+=("$w")
        [[ $w == *=* ]] || conn+=("${words[i+1]}")
      fi
      if [[ $w != *=* ]] && _sfactory_value "$cmd" "$w" > /dev/null; then
        (( i += 2 ))
        continue
      fi
    elif [[ -z $cmd && -n $grp ]]; then
      cmd="$grp $w"
    elif [[ -z $cmd ]] && _sfactory_group "$w" > /dev/null; then
      grp=$w
    elif [[ -z $cmd ]]; then
      cmd=$w
    else
      pos+=("$w")
    fi
    (( i += 1 ))
)SH";

std::string BashScript(const Model& m) {
  std::string out = absl::StrCat(
      "# bash completion for sfactory ", ClientVersion(),
      ", generated by `sfactory completion bash`.\n"
      "# Load it: source <(sfactory completion bash), or save it as\n"
      "# ~/.local/share/bash-completion/completions/sfactory\n\n",
      ShellData(m),
      R"SH(# _sfactory_reply KIND: COMPREPLY for the current word
_sfactory_reply() {
  case $1 in
    words\ *) mapfile -t COMPREPLY < <(compgen -W "${1#words }" -- "$cur") ;;
    file) compopt -o filenames 2> /dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    dir) compopt -o filenames 2> /dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    build) mapfile -t COMPREPLY < <(compgen -W "$(_sfactory_builds)" -- "$cur") ;;
  esac
}

_sfactory() {
  local -a words=("${COMP_WORDS[@]}") pos=() conn=()
  local n=$COMP_CWORD cur=${COMP_WORDS[COMP_CWORD]} prog=${COMP_WORDS[0]}
  local cmd="" grp="" w kind i=1
  COMPREPLY=()
  while (( i < n )); do
)SH",
      kScan, R"SH(  done
  if (( i > n )); then  # the current word is a flag's value
    kind=$(_sfactory_value "$cmd" "${words[n-1]}")
    _sfactory_reply "$kind"
    return 0
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_sfactory_flags "$cmd")" -- "$cur")
  elif [[ -z $cmd && -n $grp ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_sfactory_group "$grp")" -- "$cur")
  elif [[ -z $cmd ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_sfactory_top)" -- "$cur")
  else
    kind=$(_sfactory_positional "$cmd")
    (( ${#pos[@]} < ${kind%% *} )) && _sfactory_reply "${kind#* }"
  fi
  return 0
}
complete -F _sfactory sfactory
)SH");
  return out;
}

std::string ZshScript(const Model& m) {
  return absl::StrCat(
      "#compdef sfactory\n"
      "# zsh completion for sfactory ",
      ClientVersion(),
      ", generated by `sfactory completion zsh`.\n"
      "# Load it: save it as _sfactory in a directory of $fpath before compinit,\n"
      "# or source <(sfactory completion zsh) after compinit.\n\n",
      ShellData(m),
      R"SH(# _sfactory_reply KIND: offers matches for the current word
_sfactory_reply() {
  case $1 in
    words\ *) compadd -- ${=${1#words }} ;;
    file) _files ;;
    dir) _files -/ ;;
    build) compadd -- ${(f)"$(_sfactory_builds)"} ;;
  esac
}

_sfactory() {
  local -a pos conn
  local n=$CURRENT cur=${words[CURRENT]} prog=${words[1]}
  local cmd="" grp="" w kind i=2
  while (( i < n )); do
)SH",
      kScan, R"SH(  done
  if (( i > n )); then
    kind=$(_sfactory_value "$cmd" "${words[n-1]}")
    _sfactory_reply "$kind"
  elif [[ $cur == -* ]]; then
    compadd -- ${=$(_sfactory_flags "$cmd")}
  elif [[ -z $cmd && -n $grp ]]; then
    compadd -- ${=$(_sfactory_group "$grp")}
  elif [[ -z $cmd ]]; then
    compadd -- ${=$(_sfactory_top)}
  else
    kind=$(_sfactory_positional "$cmd")
    (( ${#pos} < ${kind%% *} )) && _sfactory_reply "${kind#* }"
  fi
  return 0
}

if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
  _sfactory "$@"
elif (( $+functions[compdef] )); then
  compdef _sfactory sfactory
fi
)SH");
}

// Fish: one `complete` line per command, flag and positional.
std::string FishFlagLine(const std::string& condition, const FlagSpec& f) {
  std::string line = "complete -c sfactory";
  if (!condition.empty()) absl::StrAppend(&line, " -n ", FishQuote(condition));
  absl::StrAppend(&line, " -l ", f.name);
  if (f.short_name != 0) absl::StrAppend(&line, " -s ", std::string(1, f.short_name));
  if (f.kind != FlagKind::kBool) {
    std::string kind = FlagValueKind(f);
    if (kind == "file") {
      absl::StrAppend(&line, " -r -F");
    } else if (kind == "dir") {
      absl::StrAppend(&line, " -x -a '(__fish_complete_directories)'");
    } else if (absl::StartsWith(kind, "words ")) {
      absl::StrAppend(&line, " -x -a ", FishQuote(kind.substr(6)));
    } else {
      absl::StrAppend(&line, " -x");
    }
  }
  absl::StrAppend(&line, " -d ", FishQuote(f.help), "\n");
  return line;
}

std::string FishScript(const Model& m) {
  std::vector<std::string> value_flags;  // every flag that takes a value, for __sfactory_words
  std::set<std::string> seen;
  auto note = [&](const FlagSpec& f) {
    if (f.kind == FlagKind::kBool) return;
    for (std::string& w : FlagWords(f)) {
      if (seen.insert(w).second) value_flags.push_back(std::move(w));
    }
  };
  for (const FlagSpec& f : m.common) note(f);
  for (const Command* c : m.commands) {
    for (const FlagSpec& f : c->flags) note(f);
  }
  std::string out = absl::StrCat(
      "# fish completion for sfactory ", ClientVersion(),
      ", generated by `sfactory completion fish`.\n"
      "# Load it: sfactory completion fish > ~/.config/fish/completions/sfactory.fish\n\n"
      "# The words typed that are no flag nor a flag's value.\n"
      "function __sfactory_words\n"
      "    set -l skip 0\n"
      "    for t in (commandline -opc)[2..-1]\n"
      "        if test $skip = 1\n            set skip 0\n            continue\n        end\n"
      "        switch $t\n"
      "            case '",
      absl::StrJoin(value_flags, "' '"), "'",
      "\n                set skip 1\n"
      "            case '-*'\n"
      "            case '*'\n                echo $t\n"
      "        end\n    end\nend\n\n"
      "# __sfactory_is N WORDS...: the command typed is WORDS and fewer than N\n"
      "# positionals follow it (N = -1: any number).\n"
      "function __sfactory_is\n"
      "    set -l max $argv[1]\n    set -e argv[1]\n"
      "    set -l w (__sfactory_words)\n"
      "    test (count $w) -ge (count $argv); or return 1\n"
      "    for i in (seq (count $argv))\n"
      "        test \"$w[$i]\" = \"$argv[$i]\"; or return 1\n    end\n"
      "    test $max -lt 0; or test (math (count $w) - (count $argv)) -lt $max\nend\n\n"
      "function __sfactory_none\n    test (count (__sfactory_words)) -eq 0\nend\n\n"
      "# Build ids, asking the daemon the typed flags name.\n"
      "function __sfactory_builds\n"
      "    set -l conn\n    set -l toks (commandline -opc)\n"
      "    for i in (seq (count $toks))\n"
      "        switch $toks[$i]\n"
      "            case '",
      absl::StrJoin(m.connection_flags, "' '"),
      "'\n                set -a conn $toks[$i] $toks[(math $i + 1)]\n"
      "            case '", absl::StrJoin(m.connection_flags, "=*' '"), "=*'\n"
      "                set -a conn $toks[$i]\n"
      "        end\n    end\n"
      "    command sfactory __complete-builds $conn 2>/dev/null\nend\n\n"
      "complete -c sfactory -f\n");
  for (const std::string& word : m.top) {
    auto group = m.groups.find(word);
    std::string help;
    if (group != m.groups.end()) {
      help = absl::StrCat(word, " ", absl::StrJoin(group->second, ", "));
    } else {
      for (const Command* c : m.commands) {
        if (word == c->name) help = c->help;
      }
    }
    absl::StrAppend(&out, "complete -c sfactory -n __sfactory_none -a ", word, " -d ",
                    FishQuote(help), "\n");
  }
  for (const Command* c : m.commands) {
    absl::string_view name = c->name;
    size_t space = name.find(' ');
    if (space != absl::string_view::npos) {
      absl::StrAppend(&out, "complete -c sfactory -n ",
                      FishQuote(absl::StrCat("__sfactory_is 0 ", name.substr(0, space))),
                      " -a ", name.substr(space + 1), " -d ", FishQuote(c->help), "\n");
    }
  }
  for (const FlagSpec& f : m.common) absl::StrAppend(&out, FishFlagLine("", f));
  absl::StrAppend(&out, "complete -c sfactory -n __sfactory_none -l version -d ",
                  FishQuote("print the version"), "\n");
  for (const Command* c : m.commands) {
    std::string is_command = absl::StrCat("__sfactory_is -1 ", c->name);
    for (const FlagSpec& f : c->flags) absl::StrAppend(&out, FishFlagLine(is_command, f));
    std::string kind = PositionalKind(*c);
    if (kind.empty()) continue;
    std::string line = absl::StrCat(
        "complete -c sfactory -n ",
        FishQuote(absl::StrCat("__sfactory_is ", c->positionals, " ", c->name)));
    if (kind == "build") {
      absl::StrAppend(&line, " -x -a '(__sfactory_builds)'");
    } else if (kind == "file") {
      absl::StrAppend(&line, " -F");
    } else {
      absl::StrAppend(&line, " -x -a ", FishQuote(kind.substr(6)));
    }
    absl::StrAppend(&out, line, " -d ", FishQuote(c->usage), "\n");
  }
  return out;
}

}  // namespace

absl::StatusOr<Shell> ParseShell(absl::string_view name) {
  if (name == "bash") return Shell::kBash;
  if (name == "zsh") return Shell::kZsh;
  if (name == "fish") return Shell::kFish;
  return UsageError(absl::StrCat("no completion for shell \"", name, "\" (bash, zsh or fish)"));
}

std::string CompletionScript(Shell shell, absl::Span<const Command> commands,
                             absl::Span<const FlagSpec> common) {
  Model m = MakeModel(commands, common);
  switch (shell) {
    case Shell::kBash:
      return BashScript(m);
    case Shell::kZsh:
      return ZshScript(m);
    case Shell::kFish:
      return FishScript(m);
  }
  return "";
}

std::string CompletionScript(Shell shell) {
  return CompletionScript(shell, Commands(), CommonFlags());
}

absl::Status CompletionCommand(CommandContext& ctx) {
  absl::StatusOr<Shell> shell = ParseShell(ctx.args().positional()[0]);
  if (!shell.ok()) return shell.status();
  return WriteOut(ctx.out(), CompletionScript(*shell));
}

absl::Status CompleteBuildsCommand(CommandContext& ctx) {
  // A TAB waits at most this long, and a daemon that does not answer, or
  // settings that are wrong, show as no candidates rather than an error.
  ConnectOptions quick;
  quick.connect_timeout = absl::Seconds(2);
  quick.rpc_timeout = absl::Seconds(2);
  quick.retry.attempts = 1;
  std::ostringstream discard;
  CommandContext quiet(ctx.args(), ctx.out(), discard, quick,
                       [&ctx](absl::string_view name) { return ctx.Env(name); }, false);
  v1::ListBuildsRequest request;
  request.set_page_size(100);
  v1::ListBuildsResponse response;
  absl::Status status = quiet.Call([&](Connection& conn, grpc::ClientContext& context) {
    return conn.builds().ListBuilds(&context, request, &response);
  });
  if (!status.ok()) return absl::OkStatus();
  std::string ids;
  for (const v1::Build& b : response.builds()) absl::StrAppend(&ids, b.id(), "\n");
  return WriteOut(ctx.out(), ids);
}

}  // namespace sfactory::client
