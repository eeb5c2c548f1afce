// A small command-line flag parser shared by every subcommand.
//
// Accepted forms: `--name value`, `--name=value`, `-x value` (when the flag
// has a short name), `--bool-flag`, and `--` to end flags. Flags and
// positional arguments may be mixed. Unknown flags, missing values, values
// given to boolean flags, non-numbers for integer flags and repeats of a
// single-valued flag and values outside a flag's `choices` are all usage
// errors (InvalidArgument).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace sfactory::client {

enum class FlagKind {
  kBool,    // present or not
  kString,  // one value
  kInt,     // one value, a decimal integer
  kList,    // repeatable; each occurrence adds one value
};

struct FlagSpec {
  const char* name;        // without the dashes: "output"
  FlagKind kind;
  const char* value_name;  // for help: "DIR" (ignored for kBool)
  const char* help;
  char short_name = 0;     // 'o' for -o; 0 for none
  // When not empty, the only values the flag takes (compared ignoring case;
  // a kList value may list several, comma-separated). The parser refuses
  // others naming these; completions offer them.
  std::vector<const char*> choices = {};
};

class ParsedArgs {
 public:
  const std::vector<std::string>& positional() const { return positional_; }
  bool Has(absl::string_view name) const;
  // Only for kBool flags: whether it was given.
  bool Bool(absl::string_view name) const { return Has(name); }
  // The value of a kString/kInt flag, or `fallback` when absent.
  std::string String(absl::string_view name, absl::string_view fallback = "") const;
  // The value of a kInt flag (validated while parsing), or `fallback`.
  int64_t Int(absl::string_view name, int64_t fallback) const;
  // Every value of a kList flag, in order.
  std::vector<std::string> List(absl::string_view name) const;

 private:
  friend absl::StatusOr<ParsedArgs> ParseFlags(absl::Span<const std::string> args,
                                               absl::Span<const FlagSpec> specs);
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
};

absl::StatusOr<ParsedArgs> ParseFlags(absl::Span<const std::string> args,
                                      absl::Span<const FlagSpec> specs);

// One line per flag, aligned: "  -o, --output DIR   where to put the files".
std::string FlagsHelp(absl::Span<const FlagSpec> specs);

}  // namespace sfactory::client
