// Formatting shared by the commands: JSON documents, aligned tables, local
// times, durations, sizes, and names of enum values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "common/build_state.h"
#include "sfactory/v1/sfactory.pb.h"
#include "common/units.h"

namespace sfactory::client {

// The message as one JSON document (proto field names, defaults included,
// indented), ending in a newline.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);
// The message as a JSON value, to embed in a larger document.
absl::StatusOr<google::protobuf::Value> ToJsonValue(const google::protobuf::Message& message);

// Builds small JSON objects for output that has no proto message.
google::protobuf::Value JsonString(absl::string_view s);  // invalid UTF-8 becomes U+FFFD
google::protobuf::Value JsonNumber(double n);

// "queued", "running", "succeeded", "failed", "cancelled", "unknown".
std::string StateName(v1::BuildState state);
// The inverse, for user input (case-insensitive); InvalidArgument otherwise.
absl::StatusOr<v1::BuildState> ParseState(absl::string_view name);

// An unset timestamp becomes InfinitePast().
absl::Time ToTime(const google::protobuf::Timestamp& ts);
bool IsSet(const google::protobuf::Timestamp& ts);
// "2025-01-31 14:05:09" in the local time zone; "-" when unset.
std::string FormatLocalTime(const google::protobuf::Timestamp& ts);
// "45s", "3m07s", "2h05m", "3d04h".
std::string HumanDuration(absl::Duration d);
// "812 B", "4.0 KiB", "12.3 MiB", "1.20 GiB" (common/units.h).
inline std::string FormatSize(uint64_t bytes) { return FormatByteSize(bytes); }
// How long the build ran (finished − started, or now − started); "-" before it started.
std::string BuildDuration(const v1::Build& build);
// "24.11 → 24.11.5" (or "24.11.5" when nothing was resolved).
std::string VersionText(const v1::Build& build);
// "native +gpu, debian-12/x86_64"
std::string SpecText(const v1::Build& build);
// Replaces invalid UTF-8 sequences with U+FFFD.
std::string SanitizeUtf8(absl::string_view s);

// `text` for one line of a table: control characters escaped as in
// EscapeControl (common/echo.h), newline and tab too. Tables hold names and
// messages other people chose; they are for reading (--json has the bytes).
std::string CellText(absl::string_view text);

// Left-aligned columns separated by two spaces; the last column is not
// padded. Cells pass through CellText.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(const std::vector<std::string>& row);
  std::string Render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// "key:   value" lines with the values aligned; values pass through CellText.
class KeyValues {
 public:
  void Add(absl::string_view key, absl::string_view value);
  std::string Render() const;

 private:
  std::vector<std::pair<std::string, std::string>> rows_;
};

}  // namespace sfactory::client
