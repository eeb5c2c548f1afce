#include "common/yaml_util.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/status.h"
#include "common/units.h"

namespace sfactory {

absl::StatusOr<YAML::Node> ParseYaml(absl::string_view text, absl::string_view source) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": ", e.msg));
  }
}

absl::StatusOr<YAML::Node> LoadYamlFile(const std::filesystem::path& path) {
  SF_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseYaml(text, path.string());
}

std::string YamlWhere(absl::string_view source, const YAML::Node& node) {
  YAML::Mark mark = node.Mark();
  if (mark.is_null()) return std::string(source);
  return absl::StrCat(source, ":", mark.line + 1);
}

absl::Status YamlError(absl::string_view source, const YAML::Node& node, absl::string_view message) {
  YAML::Mark mark = node.Mark();
  if (mark.is_null()) return absl::InvalidArgumentError(absl::StrCat(source, ": ", message));
  return absl::InvalidArgumentError(
      absl::StrCat(YamlWhere(source, node), ":", mark.column + 1, ": ", message));
}

absl::Status CheckKeys(absl::string_view source, const YAML::Node& node,
                       std::initializer_list<absl::string_view> allowed) {
  if (!node.IsMap()) return YamlError(source, node, "expected a mapping");
  for (const auto& kv : node) {
    std::string key = kv.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return YamlError(source, kv.first,
                       absl::StrCat("unknown key '", key, "' (known keys: ",
                                    absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> YamlString(absl::string_view source, const YAML::Node& node) {
  if (!node.IsScalar()) return YamlError(source, node, "expected a string");
  return node.Scalar();
}

absl::StatusOr<int64_t> YamlInt(absl::string_view source, const YAML::Node& node) {
  int64_t v;
  if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &v)) {
    return YamlError(source, node, absl::StrCat("expected an integer, got '", node.Scalar(), "'"));
  }
  return v;
}

absl::StatusOr<bool> YamlBool(absl::string_view source, const YAML::Node& node) {
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  return YamlError(source, node, absl::StrCat("expected true or false, got '", node.Scalar(), "'"));
}

absl::StatusOr<absl::Duration> YamlDuration(absl::string_view source, const YAML::Node& node) {
  SF_ASSIGN_OR_RETURN(std::string text, YamlString(source, node));
  int64_t seconds = 0;
  absl::Duration d;
  if (absl::SimpleAtoi(text, &seconds)) {
    d = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &d) || d == absl::InfiniteDuration()) {
    return YamlError(source, node, absl::StrCat("not a duration: \"", text,
                                                "\" (write e.g. 90m, 2h, 1h30m or 45s)"));
  }
  if (d < absl::ZeroDuration()) {
    return YamlError(source, node, absl::StrCat("a duration cannot be negative: \"", text, "\""));
  }
  return d;
}

std::string ShowDuration(absl::Duration d) {
  if (d == absl::ZeroDuration()) return "0";
  return absl::FormatDuration(d);
}

absl::StatusOr<uint64_t> YamlByteSize(absl::string_view source, const YAML::Node& node) {
  SF_ASSIGN_OR_RETURN(std::string text, YamlString(source, node));
  absl::StatusOr<uint64_t> bytes = ParseByteSize(text);
  if (!bytes.ok()) return YamlError(source, node, bytes.status().message());
  return *bytes;
}

}  // namespace sfactory
