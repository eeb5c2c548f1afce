#include "daemon/config/config.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/paths.h"
#include "common/status.h"
#include "common/yaml_util.h"
#include "daemon/config/codecs.h"

#ifndef SFACTORY_DATADIR
#define SFACTORY_DATADIR "/usr/local/share/sfactory"
#endif
#ifndef SFACTORY_SOURCE_TEMPLATES
#define SFACTORY_SOURCE_TEMPLATES ""
#endif

namespace sfactory::config {
namespace fs = std::filesystem;
namespace {

using namespace codecs;  // NOLINT: the key table below reads as a table

std::string HostArch() {
  struct utsname u;
  if (::uname(&u) == 0) return u.machine;
  return "x86_64";
}

// A build instance's CPUs by default: all of them on small hosts, all but
// one (for the daemon and the host's own services) from 3 CPUs up.
int HostInstanceCpus() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (n <= 0) return 0;
  return static_cast<int>(n > 2 ? n - 1 : n);
}

// A build instance's memory by default: three quarters of the host's,
// shared by the builds that may run at once, at least 1 GiB.
uint64_t HostInstanceMemory(int parallel_builds) {
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 0;
  uint64_t share = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 4 * 3 /
                   static_cast<uint64_t>(std::max(1, parallel_builds));
  share &= ~((uint64_t{1} << 20) - 1);  // whole MiB
  return std::max(share, uint64_t{1} << 30);
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

bool IsTcp(const std::string& address) { return !absl::StartsWith(address, "unix:"); }

}  // namespace

absl::Status CheckListenTls(const Config& c, absl::string_view where) {
  for (const auto& a : c.listen) {
    if (IsTcp(a) && !c.tls.enabled()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": the TCP listen address ", a,
          " needs TLS: set tls: {cert_file: ..., key_file: ...} (and client_ca_file for mutual "
          "TLS); callers then authenticate with a token (sfactory tokens create) or a client "
          "certificate"));
    }
  }
  if (c.tls.enabled() && c.tls.key_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": tls.cert_file needs tls.key_file"));
  }
  return absl::OkStatus();
}

const std::vector<KeyInfo>& Keys() {
  using C = Config;
  static const auto* keys = new std::vector<KeyInfo>{
      {"listen", "[unix:<socket>]",
       "gRPC listen addresses: a unix socket path (callers known by their uid), or host:port "
       "(needs tls; callers send a token or a client certificate)",
       FieldCodec(&C::listen, ReadAddresses, ShowTexts)},
      {"socket_group", "sfactory (if that group exists)",
       "group whose members may connect to the unix socket (root and sfactoryd's user always may)",
       Text(&C::socket_group)},
      {"state_dir", "/var/lib/sfactory (root) or $XDG_STATE_HOME/sfactory",
       "database, logs, artifacts, work dirs", AbsolutePath(&C::state_dir)},
      {"cache_dir", "<state_dir>/cache", "sources, ccache, base-image downloads",
       AbsolutePath(&C::cache_dir)},
      {"data_dir", SFACTORY_DATADIR, "where catalog.yaml, recipes/ and modules/ live",
       Path(&C::data_dir)},
      {"catalog", "<data_dir>/catalog.yaml", "Slurm release catalog", Path(&C::catalog)},
      {"catalog_dirs", "[/etc/sfactory/catalog.d]",
       "directories of drop-in catalog files (*.yaml) that add series and releases; missing "
       "ones are skipped",
       Paths(&C::catalog_dirs)},
      {"recipe_dirs", "[<data_dir>/recipes]",
       "directories holding recipe directories; later ones override earlier ones",
       Paths(&C::recipe_dirs)},
      {"provider", "auto",
       "auto (lxd where LXD is installed, waiting for it while it does not answer; local only "
       "on hosts without LXD), local or lxd",
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
      {"max_build_time", "12h",
       "a build running longer fails (its phase and the limit in the log); 0 = no limit; "
       "phases may set a shorter timeout: in recipe.yaml",
       Duration(&C::max_build_time)},
      {"max_log_size", "1GiB",
       "a build whose log grows past this fails; the log keeps its first and last MiB; 0 = no "
       "limit",
       Bytes(&C::max_log_size_bytes)},
      {"instance_cpus", "the host's CPUs, less one from 3 up",
       "CPU limit of a build instance (LXD limits.cpu); 0 = no limit",
       Int(&C::instance_cpus, 0, 4096)},
      {"instance_memory", "3/4 of the host's memory / max_parallel_builds (at least 1GiB)",
       "memory limit of a build instance, e.g. 8GiB (LXD limits.memory); 0 = no limit",
       Bytes(&C::instance_memory_bytes)},
      {"min_free_space", "2GiB",
       "builds start only while state_dir's filesystem has this much free (0 = no check)",
       Bytes(&C::min_free_space_bytes)},
      {"allow_downloads", "true",
       "download missing sources from the catalog's URLs (false on air-gapped hosts)",
       Bool(&C::allow_downloads)},
      {"log_level", "info", "trace, debug, info, warn or error",
       FieldCodec(&C::log_level, ReadLogLevel, ShowText)},
      {"metrics_listen", "\"\" (off)",
       "host:port for Prometheus' scrapes of /metrics (plain HTTP: keep it on loopback or a "
       "management network), e.g. 127.0.0.1:9464",
       OptionalHostPort(&C::metrics_listen)},
      {"lxd", "{}", "LXD provider settings (see docs/LXD.md)", LxdSection()},
      {"tls", "{} (no TCP listeners)",
       "{cert_file, key_file, client_ca_file}: PEM files for TCP listeners; with client_ca_file, "
       "a verified client certificate's CN is the caller",
       TlsSection()},
      {"admins", "{users: [], groups: []}",
       "who may prune, rebuild images, manage tokens and cancel others' builds, besides root",
       AdminsSection()},
      {"max_priority", "0", "submits with a higher priority need an admin",
       Int(&C::max_priority, -1000000, 1000000)},
      {"max_source_size", "4GiB", "largest source upload accepted (sfactory sources add)",
       Bytes(&C::max_source_size)},
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
  c.catalog_dirs = {"/etc/sfactory/catalog.d"};
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
  if (c.origin["instance_cpus"] == "default") c.instance_cpus = HostInstanceCpus();
  if (c.origin["instance_memory"] == "default") {
    c.instance_memory_bytes = HostInstanceMemory(c.max_parallel_builds);
  }
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
  if (root["listen"] || root["tls"]) {
    const YAML::Node where = root["listen"] ? root["listen"] : root["tls"];
    const YAML::Mark mark = where.Mark();
    absl::Status s = CheckListenTls(
        c, mark.is_null() ? std::string(source)
                          : absl::StrCat(source, ":", mark.line + 1, ":", mark.column + 1));
    if (!s.ok()) return s;
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
