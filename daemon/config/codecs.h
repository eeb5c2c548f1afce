// Private to daemon/config: how one key's value is read from YAML and
// printed back (the KeyCodec of each row of the key table in config.cc).
#pragma once

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/yaml_util.h"
#include "daemon/config/config.h"

namespace sfactory::config::codecs {
namespace fs = std::filesystem;

// A codec for a key that is one Config field: `read` turns the node into the
// field's value (or the error), `show` prints it.
template <typename T, typename Read, typename Show>
KeyCodec FieldCodec(T Config::*field, Read read, Show show) {
  return {[=](absl::string_view src, const YAML::Node& n, Config& c) -> absl::Status {
            SF_ASSIGN_OR_RETURN(c.*field, read(src, n));
            return absl::OkStatus();
          },
          [=](const Config& c) -> std::string { return show(c.*field); }};
}

template <typename T>
std::string ShowNumber(T v) {
  return absl::StrCat(v);
}

std::string ShowText(const std::string& s);
std::string ShowTexts(const std::vector<std::string>& list);
absl::StatusOr<std::vector<std::string>> ReadTexts(absl::string_view src, const YAML::Node& n);
absl::StatusOr<fs::path> ReadAbsolutePath(absl::string_view src, const YAML::Node& n);
absl::StatusOr<std::vector<std::string>> ReadAddresses(absl::string_view src,
                                                       const YAML::Node& n);
absl::StatusOr<std::string> ReadLogLevel(absl::string_view src, const YAML::Node& n);

KeyCodec Text(std::string Config::*field);
// "host:port" (IPv6 as "[::1]:port") or empty/null for off; printed quoted.
KeyCodec OptionalHostPort(std::string Config::*field);
// "12h", "90m", "45s" or seconds; "0" is zero.
KeyCodec Duration(absl::Duration Config::*field);
KeyCodec Bool(bool Config::*field);
KeyCodec Bytes(uint64_t Config::*field);
KeyCodec Path(fs::path Config::*field);
KeyCodec AbsolutePath(fs::path Config::*field);
KeyCodec Paths(std::vector<fs::path> Config::*field);
KeyCodec LxdSection();
KeyCodec TlsSection();
KeyCodec AdminsSection();

// An integer field (int or int64_t) that must lie in [lo, hi].
template <typename T>
KeyCodec Int(T Config::*field, int64_t lo, int64_t hi) {
  auto read = [lo, hi](absl::string_view src, const YAML::Node& n) -> absl::StatusOr<T> {
    SF_ASSIGN_OR_RETURN(int64_t v, YamlInt(src, n));
    if (v < lo || v > hi) {
      return YamlError(src, n, absl::StrCat("must be between ", lo, " and ", hi, ", got ", v));
    }
    return static_cast<T>(v);
  };
  return FieldCodec(field, read, ShowNumber<T>);
}

// An enum field written as one of `choices`' names; the error lists them.
template <typename E>
KeyCodec OneOf(E Config::*field, std::vector<std::pair<const char*, E>> choices) {
  auto read = [choices](absl::string_view src, const YAML::Node& n) -> absl::StatusOr<E> {
    std::vector<std::string> names;
    for (const auto& [name, value] : choices) {
      if (n.IsScalar() && n.Scalar() == name) return value;
      names.push_back(name);
    }
    return YamlError(src, n,
                     absl::StrCat("must be one of ", absl::StrJoin(names, ", "), ", got '",
                                  n.IsScalar() ? n.Scalar() : "(not a string)", "'"));
  };
  auto show = [choices](E e) -> std::string {
    for (const auto& [name, value] : choices) {
      if (value == e) return name;
    }
    return "?";
  };
  return FieldCodec(field, read, show);
}

// A mapping of string (or string-list) fields: `tls: {cert_file: ...}`.
template <typename Section>
struct Member {
  const char* name;
  std::function<absl::Status(absl::string_view, const YAML::Node&, Section&)> read;
  std::function<std::string(const Section&)> show;  // empty: leave out
};

template <typename Section>
KeyCodec MappingSection(const char* key, Section Config::*field,
                        std::vector<Member<Section>> members) {
  auto parse = [key, field, members](absl::string_view src, const YAML::Node& n,
                                     Config& c) -> absl::Status {
    if (n.IsNull()) {
      c.*field = Section();
      return absl::OkStatus();
    }
    if (!n.IsMap()) return YamlError(src, n, absl::StrCat("'", key, "' must be a mapping"));
    Section out;
    for (const auto& kv : n) {
      const std::string name = kv.first.Scalar();
      auto m = std::find_if(members.begin(), members.end(),
                            [&](const Member<Section>& each) { return name == each.name; });
      if (m == members.end()) {
        std::vector<std::string> names;
        for (const auto& each : members) names.push_back(each.name);
        return YamlError(src, kv.first, absl::StrCat("unknown key '", name, "' in '", key,
                                                     "'; known: ", absl::StrJoin(names, ", ")));
      }
      SF_RETURN_IF_ERROR(m->read(src, kv.second, out));
    }
    c.*field = std::move(out);
    return absl::OkStatus();
  };
  auto print = [field, members](const Config& c) -> std::string {
    std::vector<std::string> parts;
    for (const auto& m : members) {
      std::string v = m.show(c.*field);
      if (!v.empty()) parts.push_back(absl::StrCat(m.name, ": ", v));
    }
    return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
  };
  return {parse, print};
}

template <typename Section>
Member<Section> PathMember(const char* name, fs::path Section::*field) {
  return {name,
          [field](absl::string_view src, const YAML::Node& n, Section& s) -> absl::Status {
            SF_ASSIGN_OR_RETURN(s.*field, ReadAbsolutePath(src, n));
            return absl::OkStatus();
          },
          [field](const Section& s) { return (s.*field).string(); }};
}

template <typename Section>
Member<Section> ListMember(const char* name, std::vector<std::string> Section::*field) {
  return {name,
          [field](absl::string_view src, const YAML::Node& n, Section& s) -> absl::Status {
            SF_ASSIGN_OR_RETURN(s.*field, ReadTexts(src, n));
            return absl::OkStatus();
          },
          [field](const Section& s) {
            return absl::StrCat("[", absl::StrJoin(s.*field, ", "), "]");
          }};
}

}  // namespace sfactory::config::codecs
