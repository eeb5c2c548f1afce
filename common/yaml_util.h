// Adapter around yaml-cpp: its exceptions stop here and become Statuses that
// name the file and line.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <string>
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

#include "absl/status/statusor.h"
#include "yaml-cpp/yaml.h"

namespace sfactory {

// Parses `text`; `source` names it in errors (a file path, or "<embedded>").
absl::StatusOr<YAML::Node> ParseYaml(absl::string_view text, absl::string_view source);
absl::StatusOr<YAML::Node> LoadYamlFile(const std::filesystem::path& path);

// "source:LINE" (1-based), or just `source` when the node has no position.
std::string YamlWhere(absl::string_view source, const YAML::Node& node);
// "source:LINE:COL: message" with the node's position (1-based).
absl::Status YamlError(absl::string_view source, const YAML::Node& node, absl::string_view message);

// Fails naming the first key of map `node` that is not in `allowed`.
absl::Status CheckKeys(absl::string_view source, const YAML::Node& node,
                       std::initializer_list<absl::string_view> allowed);

// Scalar readers that fail with the position when the node is not a scalar
// of that type.
absl::StatusOr<std::string> YamlString(absl::string_view source, const YAML::Node& node);
absl::StatusOr<int64_t> YamlInt(absl::string_view source, const YAML::Node& node);
absl::StatusOr<bool> YamlBool(absl::string_view source, const YAML::Node& node);
// A byte size such as "8GiB" or "512M" (common/units.h), in bytes.
absl::StatusOr<uint64_t> YamlByteSize(absl::string_view source, const YAML::Node& node);
// A duration such as "90m", "2h", "1h30m", "45s", or a number of seconds;
// never negative. "0" is zero (the callers say what zero means).
absl::StatusOr<absl::Duration> YamlDuration(absl::string_view source, const YAML::Node& node);
// "2h", "1h30m", "45s": how YamlDuration reads it back.
std::string ShowDuration(absl::Duration d);

}  // namespace sfactory
