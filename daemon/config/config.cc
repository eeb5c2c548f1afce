#include "daemon/config/config.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <functional>
#include <limits>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
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

using Setter = std::function<absl::Status(absl::string_view src, const YAML::Node&, Config&)>;

absl::StatusOr<std::vector<std::string>> StringList(absl::string_view src, const YAML::Node& n) {
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

absl::Status ByteSize(absl::string_view src, const YAML::Node& n, uint64_t* out) {
  SF_ASSIGN_OR_RETURN(*out, YamlByteSize(src, n));
  return absl::OkStatus();
}

absl::Status IntInRange(absl::string_view src, const YAML::Node& n, int64_t lo, int64_t hi,
                        int64_t* out) {
  SF_ASSIGN_OR_RETURN(int64_t v, YamlInt(src, n));
  if (v < lo || v > hi) {
    return YamlError(src, n, absl::StrCat("must be between ", lo, " and ", hi, ", got ", v));
  }
  *out = v;
  return absl::OkStatus();
}

// Sets *out to the enum whose name `n` holds; the error lists the choices.
template <typename E>
absl::Status OneOf(absl::string_view src, const YAML::Node& n,
                   std::initializer_list<std::pair<const char*, E>> choices, E* out) {
  std::vector<std::string> names;
  for (const auto& [name, value] : choices) {
    if (n.IsScalar() && n.Scalar() == name) {
      *out = value;
      return absl::OkStatus();
    }
    names.push_back(name);
  }
  return YamlError(src, n, absl::StrCat("must be one of ", absl::StrJoin(names, ", "), ", got '",
                                        n.IsScalar() ? n.Scalar() : "(not a string)", "'"));
}

const std::map<std::string, Setter>& Setters() {
  static const auto* setters = new std::map<std::string, Setter>{
      {"listen",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         SF_ASSIGN_OR_RETURN(c.listen, StringList(src, n));
         if (c.listen.empty()) return YamlError(src, n, "needs at least one address");
         for (auto& a : c.listen) a = NormalizeAddress(a);
         return absl::OkStatus();
       }},
      {"socket_group",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         SF_ASSIGN_OR_RETURN(c.socket_group, YamlString(src, n));
         return absl::OkStatus();
       }},
      {"state_dir",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         SF_ASSIGN_OR_RETURN(std::string s, YamlString(src, n));
         if (s.empty() || s[0] != '/') return YamlError(src, n, "must be an absolute path");
         c.state_dir = s;
         return absl::OkStatus();
       }},
      {"cache_dir",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         SF_ASSIGN_OR_RETURN(std::string s, YamlString(src, n));
         if (s.empty() || s[0] != '/') return YamlError(src, n, "must be an absolute path");
         c.cache_dir = s;
         return absl::OkStatus();
       }},
      {"data_dir",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         SF_ASSIGN_OR_RETURN(std::string s, YamlString(src, n));
         c.data_dir = s;
         return absl::OkStatus();
       }},
      {"catalog",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         SF_ASSIGN_OR_RETURN(std::string s, YamlString(src, n));
         c.catalog = s;
         return absl::OkStatus();
       }},
      {"recipe_dirs",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         SF_ASSIGN_OR_RETURN(std::vector<std::string> dirs, StringList(src, n));
         c.recipe_dirs.assign(dirs.begin(), dirs.end());
         return absl::OkStatus();
       }},
      {"provider",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         return OneOf(src, n,
                      {{"auto", ProviderKind::kAuto},
                       {"local", ProviderKind::kLocal},
                       {"lxd", ProviderKind::kLxd}},
                      &c.provider);
       }},
      {"max_parallel_builds",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         int64_t v;
         SF_RETURN_IF_ERROR(IntInRange(src, n, 1, 256, &v));
         c.max_parallel_builds = static_cast<int>(v);
         return absl::OkStatus();
       }},
      {"build_jobs",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         int64_t v;
         SF_RETURN_IF_ERROR(IntInRange(src, n, 0, 1024, &v));
         c.build_jobs = static_cast<int>(v);
         return absl::OkStatus();
       }},
      {"retry_cap",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         int64_t v;
         SF_RETURN_IF_ERROR(IntInRange(src, n, 1, 100, &v));
         c.retry_cap = static_cast<int>(v);
         return absl::OkStatus();
       }},
      {"priority_aging_seconds",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         return IntInRange(src, n, 0, 365 * 86400, &c.priority_aging_seconds);
       }},
      {"queue_paused",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         SF_ASSIGN_OR_RETURN(c.queue_paused, YamlBool(src, n));
         return absl::OkStatus();
       }},
      {"verify_by_default",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         SF_ASSIGN_OR_RETURN(c.verify_by_default, YamlBool(src, n));
         return absl::OkStatus();
       }},
      {"compression",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         return OneOf(src, n,
                      {{"zstd", CompressionKind::kZstd}, {"gzip", CompressionKind::kGzip}},
                      &c.compression);
       }},
      {"source_date_epoch",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         return IntInRange(src, n, 0, int64_t{1} << 40, &c.source_date_epoch);
       }},
      {"default_recipe",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         SF_ASSIGN_OR_RETURN(c.default_recipe, YamlString(src, n));
         return absl::OkStatus();
       }},
      {"default_os",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         SF_ASSIGN_OR_RETURN(c.default_os, YamlString(src, n));
         return absl::OkStatus();
       }},
      {"default_arch",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         SF_ASSIGN_OR_RETURN(c.default_arch, YamlString(src, n));
         return absl::OkStatus();
       }},
      {"instance_cpus",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         int64_t v;
         SF_RETURN_IF_ERROR(IntInRange(src, n, 0, 4096, &v));
         c.instance_cpus = static_cast<int>(v);
         return absl::OkStatus();
       }},
      {"instance_memory",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         return ByteSize(src, n, &c.instance_memory_bytes);
       }},
      {"min_free_space",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         return ByteSize(src, n, &c.min_free_space_bytes);
       }},
      {"allow_downloads",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         SF_ASSIGN_OR_RETURN(c.allow_downloads, YamlBool(src, n));
         return absl::OkStatus();
       }},
      {"log_level",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         SF_ASSIGN_OR_RETURN(c.log_level, YamlString(src, n));
         static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
         for (const char* l : kLevels) {
           if (c.log_level == l) return absl::OkStatus();
         }
         return YamlError(src, n, "log_level must be trace, debug, info, warn or error");
       }},
      {"lxd",
       [](auto src, const auto& n, Config& c) -> absl::Status {
         if (!n.IsMap()) return YamlError(src, n, "'lxd' must be a mapping");
         c.lxd = n;
         c.lxd_source = std::string(src);
         return absl::OkStatus();
       }},
  };
  return *setters;
}

}  // namespace

const std::vector<KeyInfo>& Keys() {
  static const auto* keys = new std::vector<KeyInfo>{
      {"listen", "[unix:<socket>]",
       "gRPC listen addresses; a unix socket path or host:port (TCP has no auth yet: "
       "bind it to loopback)"},
      {"socket_group", "sfactory (if that group exists)",
       "group allowed to enter the unix socket's directory"},
      {"state_dir", "/var/lib/sfactory (root) or $XDG_STATE_HOME/sfactory",
       "database, logs, artifacts, work dirs"},
      {"cache_dir", "<state_dir>/cache", "sources, ccache, base-image downloads"},
      {"data_dir", SFACTORY_DATADIR, "where catalog.yaml, recipes/ and modules/ live"},
      {"catalog", "<data_dir>/catalog.yaml", "Slurm release catalog"},
      {"recipe_dirs", "[<data_dir>/recipes]",
       "directories holding recipe directories; later ones override earlier ones"},
      {"provider", "auto", "auto (lxd when LXD answers, else local), local or lxd"},
      {"max_parallel_builds", "2", "builds that run at once"},
      {"build_jobs", "0 (= CPUs)", "parallel jobs inside one build (SF_JOBS)"},
      {"retry_cap", "3", "runs a build may start before a restart fails it instead of requeueing"},
      {"priority_aging_seconds", "600",
       "each full interval a build waits adds 1 to its priority (0 = off)"},
      {"queue_paused", "false", "accept builds but start none (maintenance, benchmarks)"},
      {"verify_by_default", "true", "run the verify stage unless a submit says --no-verify"},
      {"compression", "zstd", "software tarball compression: zstd or gzip"},
      {"source_date_epoch", "0 (or $SOURCE_DATE_EPOCH)", "mtime of every archive entry"},
      {"default_recipe", "native", "recipe when a submit names none"},
      {"default_os", "debian-12", "OS image when a submit names none"},
      {"default_arch", "host architecture", "architecture when a submit names none"},
      {"instance_cpus", "0 (no limit)", "CPU limit of a build instance"},
      {"instance_memory", "0 (no limit)", "memory limit of a build instance, e.g. 8GiB"},
      {"min_free_space", "2GiB",
       "builds start only while state_dir's filesystem has this much free (0 = no check)"},
      {"allow_downloads", "true",
       "download missing sources from the catalog's URLs (false on air-gapped hosts)"},
      {"log_level", "info", "trace, debug, info, warn or error"},
      {"lxd", "{}", "LXD provider settings (see docs/LXD.md)"},
  };
  return *keys;
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
    auto it = Setters().find(key);
    if (it == Setters().end()) {
      std::vector<std::string> known;
      for (const auto& k : Keys()) known.push_back(k.key);
      return YamlError(source, kv.first,
                       absl::StrCat("unknown key '", key, "'; known keys: ",
                                    absl::StrJoin(known, ", "), " (see sfactoryd --help)"));
    }
    SF_RETURN_IF_ERROR(it->second(source, kv.second, c));
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
  auto line = [&](const char* key, const std::string& value) {
    auto it = c.origin.find(key);
    return absl::StrCat(key, ": ", value, "    # ", it == c.origin.end() ? "derived" : it->second,
                        "\n");
  };
  std::string out;
  out += line("listen", absl::StrJoin(c.listen, ", "));
  out += line("socket_group", c.socket_group);
  out += line("state_dir", c.state_dir.string());
  out += line("cache_dir", c.cache_dir.string());
  out += line("data_dir", c.data_dir.string());
  out += line("catalog", c.catalog.string());
  std::vector<std::string> dirs;
  for (const auto& d : c.recipe_dirs) dirs.push_back(d.string());
  out += line("recipe_dirs", absl::StrJoin(dirs, ", "));
  const char* providers[] = {"auto", "local", "lxd"};
  out += line("provider", providers[static_cast<int>(c.provider)]);
  out += line("max_parallel_builds", absl::StrCat(c.max_parallel_builds));
  out += line("build_jobs", absl::StrCat(c.build_jobs));
  out += line("retry_cap", absl::StrCat(c.retry_cap));
  out += line("priority_aging_seconds", absl::StrCat(c.priority_aging_seconds));
  out += line("queue_paused", c.queue_paused ? "true" : "false");
  out += line("verify_by_default", c.verify_by_default ? "true" : "false");
  out += line("compression", c.compression == CompressionKind::kZstd ? "zstd" : "gzip");
  out += line("source_date_epoch", absl::StrCat(c.source_date_epoch));
  out += line("default_recipe", c.default_recipe);
  out += line("default_os", c.default_os);
  out += line("default_arch", c.default_arch);
  out += line("instance_cpus", absl::StrCat(c.instance_cpus));
  out += line("instance_memory", absl::StrCat(c.instance_memory_bytes));
  out += line("min_free_space", absl::StrCat(c.min_free_space_bytes));
  out += line("allow_downloads", c.allow_downloads ? "true" : "false");
  out += line("log_level", c.log_level);
  YAML::Emitter lxd;
  lxd << YAML::Flow << (c.lxd.IsNull() ? YAML::Node(YAML::NodeType::Map) : c.lxd);
  out += line("lxd", lxd.c_str());
  return out;
}

}  // namespace sfactory::config
