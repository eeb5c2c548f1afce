#include "daemon/config/codecs.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/paths.h"

namespace sfactory::config::codecs {
namespace {

std::string ShowPath(const fs::path& p) { return p.string(); }
std::string ShowBool(bool b) { return b ? "true" : "false"; }
std::string ShowPaths(const std::vector<fs::path>& list) {
  return absl::StrJoin(list, ", ", [](std::string* out, const fs::path& p) {
    out->append(p.string());
  });
}

absl::StatusOr<fs::path> ReadPath(absl::string_view src, const YAML::Node& n) {
  SF_ASSIGN_OR_RETURN(std::string s, YamlString(src, n));
  return fs::path(s);
}

}  // namespace

std::string ShowText(const std::string& s) { return s; }
std::string ShowTexts(const std::vector<std::string>& list) { return absl::StrJoin(list, ", "); }

absl::StatusOr<std::vector<std::string>> ReadTexts(absl::string_view src, const YAML::Node& n) {
  std::vector<std::string> out;
  if (n.IsScalar()) {
    out.push_back(n.Scalar());
    return out;
  }
  if (!n.IsSequence()) return YamlError(src, n, "expected a list of strings");
  for (const auto& item : n) {
    SF_ASSIGN_OR_RETURN(std::string s, YamlString(src, item));
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<fs::path> ReadAbsolutePath(absl::string_view src, const YAML::Node& n) {
  // (Not SF_ASSIGN_OR_RETURN: gcc 12 -O2 then warns that s[0] may be
  // uninitialized, a false positive.)
  absl::StatusOr<std::string> s = YamlString(src, n);
  if (!s.ok()) return s.status();
  if (!absl::StartsWith(*s, "/")) return YamlError(src, n, "must be an absolute path");
  return fs::path(*s);
}

absl::StatusOr<std::vector<fs::path>> ReadPaths(absl::string_view src, const YAML::Node& n) {
  SF_ASSIGN_OR_RETURN(std::vector<std::string> list, ReadTexts(src, n));
  return std::vector<fs::path>(list.begin(), list.end());
}

absl::StatusOr<std::vector<std::string>> ReadAddresses(absl::string_view src,
                                                       const YAML::Node& n) {
  SF_ASSIGN_OR_RETURN(std::vector<std::string> list, ReadTexts(src, n));
  if (list.empty()) return YamlError(src, n, "needs at least one address");
  for (auto& a : list) a = NormalizeAddress(a);
  return list;
}

absl::StatusOr<std::string> ReadLogLevel(absl::string_view src, const YAML::Node& n) {
  SF_ASSIGN_OR_RETURN(std::string level, YamlString(src, n));
  for (const char* l : {"trace", "debug", "info", "warn", "error"}) {
    if (level == l) return level;
  }
  return YamlError(src, n, "log_level must be trace, debug, info, warn or error");
}

KeyCodec Text(std::string Config::*field) { return FieldCodec(field, YamlString, ShowText); }

namespace {
absl::StatusOr<std::string> ReadOptionalHostPort(absl::string_view src, const YAML::Node& n) {
  if (n.IsNull()) return std::string();
  SF_ASSIGN_OR_RETURN(std::string s, YamlString(src, n));
  if (s.empty()) return s;
  size_t colon = s.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(s.substr(colon + 1), &port) ||
      port < 0 || port > 65535 || s.find_first_of("\"' ") != std::string::npos) {
    return YamlError(src, n, absl::StrCat("expected host:port (e.g. 127.0.0.1:9464 or [::1]:9464) "
                                          "or \"\" for off, not \"", s, "\""));
  }
  return s;
}
std::string ShowQuoted(const std::string& s) { return absl::StrCat("\"", s, "\""); }
}  // namespace

KeyCodec Duration(absl::Duration Config::*field) {
  return FieldCodec(field, YamlDuration, ShowDuration);
}

KeyCodec OptionalHostPort(std::string Config::*field) {
  return FieldCodec(field, ReadOptionalHostPort, ShowQuoted);
}
KeyCodec Bool(bool Config::*field) { return FieldCodec(field, YamlBool, ShowBool); }
KeyCodec Bytes(uint64_t Config::*field) {
  return FieldCodec(field, YamlByteSize, ShowNumber<uint64_t>);
}
KeyCodec Path(fs::path Config::*field) { return FieldCodec(field, ReadPath, ShowPath); }
KeyCodec AbsolutePath(fs::path Config::*field) {
  return FieldCodec(field, ReadAbsolutePath, ShowPath);
}
KeyCodec Paths(std::vector<fs::path> Config::*field) {
  return FieldCodec(field, ReadPaths, ShowPaths);
}


// `lxd:` is kept as a node for the LXD provider to parse, with its file name.
KeyCodec LxdSection() {
  return {[](absl::string_view src, const YAML::Node& n, Config& c) -> absl::Status {
            if (!n.IsMap()) return YamlError(src, n, "'lxd' must be a mapping");
            c.lxd = n;
            c.lxd_source = std::string(src);
            return absl::OkStatus();
          },
          [](const Config& c) -> std::string {
            YAML::Emitter out;
            out << YAML::Flow << (c.lxd.IsNull() ? YAML::Node(YAML::NodeType::Map) : c.lxd);
            return out.c_str();
          }};
}

KeyCodec TlsSection() {
  return MappingSection<TlsConfig>(
      "tls", &Config::tls,
      {PathMember("cert_file", &TlsConfig::cert_file),
       PathMember("key_file", &TlsConfig::key_file),
       PathMember("client_ca_file", &TlsConfig::client_ca_file)});
}

KeyCodec AdminsSection() {
  return MappingSection<AdminsConfig>(
      "admins", &Config::admins,
      {ListMember("users", &AdminsConfig::users), ListMember("groups", &AdminsConfig::groups)});
}

}  // namespace sfactory::config::codecs
