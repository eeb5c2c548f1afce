#include "client/flags.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/exit_codes.h"

namespace sfactory::client {
namespace {

const FlagSpec* FindLong(absl::Span<const FlagSpec> specs, absl::string_view name) {
  for (const FlagSpec& s : specs) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

const FlagSpec* FindShort(absl::Span<const FlagSpec> specs, char c) {
  for (const FlagSpec& s : specs) {
    if (s.short_name != 0 && s.short_name == c) return &s;
  }
  return nullptr;
}

// OK when `spec` has no choices or every comma-separated part of `value` is one.
absl::Status CheckChoice(const FlagSpec& spec, absl::string_view shown, absl::string_view value) {
  if (spec.choices.empty()) return absl::OkStatus();
  std::vector<absl::string_view> parts;
  if (spec.kind == FlagKind::kList) {
    parts = absl::StrSplit(value, ',');
  } else {
    parts.push_back(value);
  }
  for (absl::string_view part : parts) {
    bool known = std::any_of(spec.choices.begin(), spec.choices.end(),
                             [&](const char* c) { return absl::EqualsIgnoreCase(part, c); });
    if (!known) {
      return UsageError(absl::StrCat(shown, " takes ", absl::StrJoin(spec.choices, ", "),
                                     ", not \"", part, "\""));
    }
  }
  return absl::OkStatus();
}

std::string FlagLabel(const FlagSpec& spec) {
  std::string label = spec.short_name ? absl::StrCat("-", std::string(1, spec.short_name), ", ")
                                      : std::string("    ");
  absl::StrAppend(&label, "--", spec.name);
  if (spec.kind != FlagKind::kBool) absl::StrAppend(&label, " ", spec.value_name);
  return label;
}

}  // namespace

bool ParsedArgs::Has(absl::string_view name) const { return values_.find(name) != values_.end(); }

std::string ParsedArgs::String(absl::string_view name, absl::string_view fallback) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::string(fallback);
  return it->second.back();
}

int64_t ParsedArgs::Int(absl::string_view name, int64_t fallback) const {
  auto it = values_.find(name);
  int64_t value = 0;
  if (it == values_.end() || it->second.empty() || !absl::SimpleAtoi(it->second.back(), &value)) {
    return fallback;
  }
  return value;
}

std::vector<std::string> ParsedArgs::List(absl::string_view name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

absl::StatusOr<ParsedArgs> ParseFlags(absl::Span<const std::string> args,
                                      absl::Span<const FlagSpec> specs) {
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      parsed.positional_.insert(parsed.positional_.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      parsed.positional_.push_back(arg);
      continue;
    }
    const FlagSpec* spec = nullptr;
    std::string shown;  // the flag as the user wrote it, for messages
    bool has_inline = false;
    std::string inline_value;
    if (absl::StartsWith(arg, "--")) {
      absl::string_view body = absl::string_view(arg).substr(2);
      size_t eq = body.find('=');
      if (eq != absl::string_view::npos) {
        has_inline = true;
        inline_value = std::string(body.substr(eq + 1));
        body = body.substr(0, eq);
      }
      shown = absl::StrCat("--", body);
      spec = FindLong(specs, body);
    } else {
      shown = arg.substr(0, 2);
      if (arg.size() > 2) {
        has_inline = true;
        inline_value = arg.substr(arg[2] == '=' ? 3 : 2);
      }
      spec = FindShort(specs, arg[1]);
    }
    if (spec == nullptr) return UsageError(absl::StrCat("unknown flag ", shown));

    std::vector<std::string>& slot = parsed.values_[spec->name];
    if (spec->kind == FlagKind::kBool) {
      if (has_inline) return UsageError(absl::StrCat(shown, " takes no value"));
      slot.clear();
      continue;
    }
    std::string value;
    if (has_inline) {
      value = inline_value;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return UsageError(absl::StrCat(shown, " needs a value (", spec->value_name, ")"));
    }
    if (spec->kind != FlagKind::kList && !slot.empty()) {
      return UsageError(absl::StrCat(shown, " given more than once"));
    }
    if (spec->kind == FlagKind::kInt) {
      int64_t n = 0;
      if (!absl::SimpleAtoi(value, &n)) {
        return UsageError(absl::StrCat(shown, " needs an integer, not \"", value, "\""));
      }
    }
    if (absl::Status s = CheckChoice(*spec, shown, value); !s.ok()) return s;
    slot.push_back(std::move(value));
  }
  return parsed;
}

std::string FlagsHelp(absl::Span<const FlagSpec> specs) {
  size_t width = 0;
  for (const FlagSpec& s : specs) width = std::max(width, FlagLabel(s).size());
  std::string out;
  for (const FlagSpec& s : specs) {
    std::string label = FlagLabel(s);
    absl::StrAppend(&out, "  ", label, std::string(width - label.size() + 3, ' '), s.help, "\n");
  }
  return out;
}

}  // namespace sfactory::client
