#include "daemon/config/config.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/paths.h"
#include "common/status.h"
#include "common/yaml_util.h"

#ifndef SFACTORY_DATADIR
#define SFACTORY_DATADIR "/usr/local/share/sfactory"
#endif
#ifndef SFACTORY_SOURCE_TEMPLATES
#define SFACTORY_SOURCE_TEMPLATES ""
#endif

namespace sfactory::config {
namespace fs = std::filesystem;
namespace {

std::string HostArch() {
  struct utsname u;
  if (::uname(&u) == 0) return u.machine;
  return "x86_64";
}

// The installed data dir, or the source tree's templates/ when running
// from a build tree that was never installed.
fs::path DefaultDataDir() {
  std::error_code ec;
  if (fs::exists(fs::path(SFACTORY_DATADIR) / "catalog.yaml", ec)) return SFACTORY_DATADIR;
  fs::path src = SFACTORY_SOURCE_TEMPLATES;
  if (!src.empty() && fs::exists(src / "catalog.yaml", ec)) return src;
  return SFACTORY_DATADIR;
}

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

std::string ShowText(const std::string& s) { return s; }
std::string ShowPath(const fs::path& p) { return p.string(); }
std::string ShowBool(bool b) { return b ? "true" : "false"; }
template <typename T>
std::string ShowNumber(T v) {
  return absl::StrCat(v);
}
std::string ShowTexts(const std::vector<std::string>& list) { return absl::StrJoin(list, ", "); }
std::string ShowPaths(const std::vector<fs::path>& list) {
  return absl::StrJoin(list, ", ", [](std::string* out, const fs::path& p) {
    out->append(p.string());
  });
}

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

absl::StatusOr<fs::path> ReadPath(absl::string_view src, const YAML::Node& n) {
  SF_ASSIGN_OR_RETURN(std::string s, YamlString(src, n));
  return fs::path(s);
}

absl::StatusOr<fs::path> ReadAbsolutePath(absl::string_view src, const YAML::Node& n) {
  SF_ASSIGN_OR_RETURN(std::string s, YamlString(src, n));
  if (s.empty() || s[0] != '/') return YamlError(src, n, "must be an absolute path");
  return fs::path(s);
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

}  // namespace

const std::vector<KeyInfo>& Keys() {
  using C = Config;
  static const auto* keys = new std::vector<KeyInfo>{
      {"listen", "[unix:<socket>]",
       "gRPC listen addresses; a unix socket path or host:port (TCP has no auth yet: "
       "bind it to loopback)",
       FieldCodec(&C::listen, ReadAddresses, ShowTexts)},
      {"socket_group", "sfactory (if that group exists)",
       "group allowed to enter the unix socket's directory", Text(&C::socket_group)},
      {"state_dir", "/var/lib/sfactory (root) or $XDG_STATE_HOME/sfactory",
       "database, logs, artifacts, work dirs", AbsolutePath(&C::state_dir)},
      {"cache_dir", "<state_dir>/cache", "sources, ccache, base-image downloads",
       AbsolutePath(&C::cache_dir)},
      {"data_dir", SFACTORY_DATADIR, "where catalog.yaml, recipes/ and modules/ live",
       Path(&C::data_dir)},
      {"catalog", "<data_dir>/catalog.yaml", "Slurm release catalog", Path(&C::catalog)},
      {"recipe_dirs", "[<data_dir>/recipes]",
       "directories holding recipe directories; later ones override earlier ones",
       Paths(&C::recipe_dirs)},
      {"provider", "auto", "auto (lxd when LXD answers, else local), local or lxd",
       OneOf(&C::provider, {{"auto", ProviderKind::kAuto},
                            {"local", ProviderKind::kLocal},
                            {"lxd", ProviderKind::kLxd}})},
      {"max_parallel_builds", "2", "builds that run at once",
       Int(&C::max_parallel_builds, 1, 256)},
      {"build_jobs", "0 (= CPUs)", "parallel jobs inside one build (SF_JOBS)",
       Int(&C::build_jobs, 0, 1024)},
      {"retry_cap", "3", "runs a build may start before a restart fails it instead of requeueing",
       Int(&C::retry_cap, 1, 100)},
      {"priority_aging_seconds", "600",
       "each full interval a build waits adds 1 to its priority (0 = off)",
       Int(&C::priority_aging_seconds, 0, 365 * 86400)},
      {"queue_paused", "false", "accept builds but start none (maintenance, benchmarks)",
       Bool(&C::queue_paused)},
      {"verify_by_default", "true", "run the verify stage unless a submit says --no-verify",
       Bool(&C::verify_by_default)},
      {"compression", "zstd", "software tarball compression: zstd or gzip",
       OneOf(&C::compression,
             {{"zstd", CompressionKind::kZstd}, {"gzip", CompressionKind::kGzip}})},
      {"source_date_epoch", "0 (or $SOURCE_DATE_EPOCH)", "mtime of every archive entry",
       Int(&C::source_date_epoch, 0, int64_t{1} << 40)},
      {"default_recipe", "native", "recipe when a submit names none", Text(&C::default_recipe)},
      {"default_os", "debian-12", "OS image when a submit names none", Text(&C::default_os)},
      {"default_arch", "host architecture", "architecture when a submit names none",
       Text(&C::default_arch)},
      {"instance_cpus", "0 (no limit)", "CPU limit of a build instance",
       Int(&C::instance_cpus, 0, 4096)},
      {"instance_memory", "0 (no limit)", "memory limit of a build instance, e.g. 8GiB",
       Bytes(&C::instance_memory_bytes)},
      {"min_free_space", "2GiB",
       "builds start only while state_dir's filesystem has this much free (0 = no check)",
       Bytes(&C::min_free_space_bytes)},
      {"allow_downloads", "true",
       "download missing sources from the catalog's URLs (false on air-gapped hosts)",
       Bool(&C::allow_downloads)},
      {"log_level", "info", "trace, debug, info, warn or error",
       FieldCodec(&C::log_level, ReadLogLevel, ShowText)},
      {"lxd", "{}", "LXD provider settings (see docs/LXD.md)", LxdSection()},
  };
  return *keys;
}

std::string KeysHelp() {
  std::string out;
  for (const auto& k : Keys()) {
    absl::StrAppendFormat(&out, "  %-24s default %s\n  %-24s %s\n", k.key, k.default_text, "",
                          k.help);
  }
  return out;
}

Config DefaultConfig() {
  Config c;
  c.listen = {NormalizeAddress(DefaultSocketPath().string())};
  c.socket_group = "sfactory";
  c.state_dir = DefaultStateDir();
  c.data_dir = DefaultDataDir();
  c.default_arch = HostArch();
  for (const auto& k : Keys()) c.origin[k.key] = "default";
  if (const char* sde = ::getenv("SOURCE_DATE_EPOCH")) {
    int64_t v;
    if (absl::SimpleAtoi(sde, &v) && v >= 0) {
      c.source_date_epoch = v;
      c.origin["source_date_epoch"] = "environment SOURCE_DATE_EPOCH";
    }
  }
  ApplyDerivedDefaults(c);
  return c;
}

void ApplyDerivedDefaults(Config& c) {
  if (c.origin["cache_dir"] == "default") c.cache_dir = c.state_dir / "cache";
  if (c.origin["catalog"] == "default") c.catalog = c.data_dir / "catalog.yaml";
  if (c.origin["recipe_dirs"] == "default") c.recipe_dirs = {c.data_dir / "recipes"};
}

absl::StatusOr<Config> ParseConfig(absl::string_view yaml, absl::string_view source) {
  Config c = DefaultConfig();
  SF_ASSIGN_OR_RETURN(YAML::Node root, ParseYaml(yaml, source));
  if (root.IsNull()) return c;  // an empty file means all defaults
  if (!root.IsMap()) return YamlError(source, root, "the config must be a mapping of keys");
  for (const auto& kv : root) {
    std::string key = kv.first.Scalar();
    auto it = std::find_if(Keys().begin(), Keys().end(),
                           [&](const KeyInfo& k) { return key == k.key; });
    if (it == Keys().end()) {
      std::vector<std::string> known;
      for (const auto& k : Keys()) known.push_back(k.key);
      return YamlError(source, kv.first,
                       absl::StrCat("unknown key '", key, "'; known keys: ",
                                    absl::StrJoin(known, ", "), " (see sfactoryd --help)"));
    }
    SF_RETURN_IF_ERROR(it->codec.parse(source, kv.second, c));
    c.origin[key] = absl::StrCat("file ", source);
  }
  ApplyDerivedDefaults(c);
  return c;
}

absl::StatusOr<Config> LoadConfig(const fs::path& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    return Annotate(text.status(), absl::StrCat("cannot read config file (sfactoryd --config ",
                                                path.string(), ")"));
  }
  return ParseConfig(*text, path.string());
}

std::string Describe(const Config& c) {
  std::string out;
  for (const auto& k : Keys()) {
    auto it = c.origin.find(k.key);
    absl::StrAppend(&out, k.key, ": ", k.codec.print(c), "    # ",
                    it == c.origin.end() ? "derived" : it->second, "\n");
  }
  return out;
}

}  // namespace sfactory::config
