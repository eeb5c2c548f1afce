#include "client/output.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/build_state.h"
#include "common/echo.h"
#include "google/protobuf/util/json_util.h"

namespace sfactory::client {
namespace {

// Terminal columns taken by `s`: its UTF-8 code points.
size_t DisplayWidth(absl::string_view s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string Pad(absl::string_view s, size_t width) {
  size_t w = DisplayWidth(s);
  return absl::StrCat(s, std::string(width > w ? width - w : 0, ' '));
}

}  // namespace

std::string CellText(absl::string_view text) {
  return absl::StrReplaceAll(EscapeControl(text), {{"\n", "\\n"}, {"\t", "\\t"}});
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print JSON: ", status.ToString()));
  }
  if (out.empty() || out.back() != '\n') out.push_back('\n');
  return out;
}

absl::StatusOr<google::protobuf::Value> ToJsonValue(const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = ToJson(message);
  if (!json.ok()) return json.status();
  google::protobuf::Value value;
  auto status = google::protobuf::util::JsonStringToMessage(*json, &value);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot re-read JSON: ", status.ToString()));
  }
  return value;
}

google::protobuf::Value JsonString(absl::string_view s) {
  google::protobuf::Value v;
  v.set_string_value(SanitizeUtf8(s));
  return v;
}

google::protobuf::Value JsonNumber(double n) {
  google::protobuf::Value v;
  v.set_number_value(n);
  return v;
}

std::string StateName(v1::BuildState state) { return BuildStateName(state); }

absl::StatusOr<v1::BuildState> ParseState(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  for (v1::BuildState s : {v1::BUILD_STATE_QUEUED, v1::BUILD_STATE_RUNNING,
                           v1::BUILD_STATE_SUCCEEDED, v1::BUILD_STATE_FAILED,
                           v1::BUILD_STATE_CANCELLED}) {
    if (lower == StateName(s)) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown state \"", name, "\" (one of queued, running, succeeded, failed, cancelled)"));
}

bool IsSet(const google::protobuf::Timestamp& ts) { return ts.seconds() != 0 || ts.nanos() != 0; }

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  if (!IsSet(ts)) return absl::InfinitePast();
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

std::string FormatLocalTime(const google::protobuf::Timestamp& ts) {
  if (!IsSet(ts)) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", ToTime(ts), absl::LocalTimeZone());
}

std::string HumanDuration(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  int64_t s = absl::ToInt64Seconds(d);
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
}

std::string BuildDuration(const v1::Build& build) {
  if (!IsSet(build.started_at())) return "-";
  absl::Time end = IsSet(build.finished_at()) ? ToTime(build.finished_at()) : absl::Now();
  return HumanDuration(end - ToTime(build.started_at()));
}

std::string VersionText(const v1::Build& build) {
  const std::string& resolved = build.spec().slurm_version();
  if (build.requested_version().empty() || build.requested_version() == resolved) return resolved;
  return absl::StrCat(build.requested_version(), " → ", resolved);
}

std::string SpecText(const v1::Build& build) {
  const v1::BuildSpec& spec = build.spec();
  std::string out = spec.recipe().empty() ? "default recipe" : spec.recipe();
  for (const std::string& v : spec.variants()) absl::StrAppend(&out, " +", v);
  if (!spec.os().empty() || !spec.arch().empty()) {
    absl::StrAppend(&out, ", ", spec.os().empty() ? "?" : spec.os(), "/",
                    spec.arch().empty() ? "?" : spec.arch());
  }
  return out;
}

std::string SanitizeUtf8(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    }
    if (ok && len > 1) {
      // Reject overlong forms, surrogates and code points past U+10FFFF.
      uint32_t cp = c & (0x7F >> len);
      for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

std::string Table::Render() const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i + 1 == row.size()) {
        absl::StrAppend(&line, row[i]);
      } else {
        absl::StrAppend(&line, Pad(row[i], widths[i]), "  ");
      }
    }
    absl::StrAppend(&out, absl::StripTrailingAsciiWhitespace(line), "\n");
  }
  return out;
}

void Table::Add(const std::vector<std::string>& row) {
  std::vector<std::string> cells;
  cells.reserve(row.size());
  for (const std::string& cell : row) cells.push_back(CellText(cell));
  rows_.push_back(std::move(cells));
}

void KeyValues::Add(absl::string_view key, absl::string_view value) {
  rows_.emplace_back(std::string(key), CellText(value));
}

std::string KeyValues::Render() const {
  size_t width = 0;
  for (const auto& [k, v] : rows_) width = std::max(width, DisplayWidth(k) + 1);
  std::string out;
  for (const auto& [k, v] : rows_) {
    absl::StrAppend(&out, Pad(absl::StrCat(k, ":"), width), "  ", v, "\n");
  }
  return out;
}

}  // namespace sfactory::client
