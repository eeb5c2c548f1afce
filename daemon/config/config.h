// sfactoryd's configuration: one table of keys (Keys()), each with its
// default, help, parser and printer. Every value records where it came from
// (default, environment, file, flag) so `sfactoryd --show-config` can say.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "yaml-cpp/yaml.h"

namespace sfactory::config {

enum class ProviderKind { kAuto, kLocal, kLxd };
enum class CompressionKind { kZstd, kGzip };

// TLS for TCP listeners (every TCP listener needs it).
struct TlsConfig {
  std::filesystem::path cert_file;       // PEM server certificate (chain)
  std::filesystem::path key_file;        // PEM private key
  std::filesystem::path client_ca_file;  // optional: verify client certificates (mTLS)
  bool enabled() const { return !cert_file.empty(); }
};

// Who is an admin besides root.
struct AdminsConfig {
  std::vector<std::string> users;
  std::vector<std::string> groups;
};

struct Config {
  std::vector<std::string> listen;  // gRPC addresses: "unix:/path" or "host:port"
  std::string socket_group;         // group that may enter the socket's directory
  std::filesystem::path state_dir;
  std::filesystem::path cache_dir;
  std::filesystem::path data_dir;   // catalog.yaml, recipes/, modules/
  std::filesystem::path catalog;
  std::vector<std::filesystem::path> catalog_dirs;  // drop-in *.yaml files
  std::vector<std::filesystem::path> recipe_dirs;
  ProviderKind provider = ProviderKind::kAuto;
  int max_parallel_builds = 2;
  int build_jobs = 0;               // 0 = number of CPUs
  int retry_cap = 3;
  int64_t priority_aging_seconds = 600;
  bool queue_paused = false;
  bool verify_by_default = true;
  CompressionKind compression = CompressionKind::kZstd;
  int64_t source_date_epoch = 0;
  std::string default_recipe = "native";
  std::string default_os = "debian-12";
  std::string default_arch;         // host architecture when empty
  int instance_cpus = 0;
  uint64_t instance_memory_bytes = 0;
  // Builds start only while the state dir's filesystem has this much free.
  uint64_t min_free_space_bytes = uint64_t{2} << 30;
  bool allow_downloads = true;      // fetch missing sources from catalog URLs
  std::string log_level = "info";
  std::string metrics_listen;       // host:port of the Prometheus endpoint; empty = off
  absl::Duration max_build_time = absl::Hours(12);  // zero = no limit
  uint64_t max_log_size_bytes = uint64_t{1} << 30;  // zero = no limit
  TlsConfig tls;
  AdminsConfig admins;
  // Submits with a priority above this need an admin.
  int max_priority = 0;
  // Uploaded sources larger than this are refused (empty ones always are).
  uint64_t max_source_size = uint64_t{4} << 30;
  // The raw `lxd:` section, parsed by the LXD provider.
  YAML::Node lxd;
  std::string lxd_source;           // file name for messages about `lxd:`

  // key → "default" | "file <path>" | "flag"
  std::map<std::string, std::string> origin;
};

// How one key's value goes from YAML into Config and back to text.
struct KeyCodec {
  // Sets the key's field from `node`, read from `source`. A bad value is
  // InvalidArgument naming source:line; `config` may then be half set.
  std::function<absl::Status(absl::string_view source, const YAML::Node& node, Config& config)>
      parse;
  // The value as --show-config prints it. `parse` reads it back, except that
  // a list of two or more prints as "a, b", which reads back as one item.
  std::function<std::string(const Config& config)> print;
};

// One top-level key. Adding a key is one entry in the table (config.cc)
// plus its Config field.
struct KeyInfo {
  const char* key;
  const char* default_text;  // for --help; the value itself is DefaultConfig()'s
  const char* help;
  KeyCodec codec;
};
// Every top-level key, in the order `--help` and `--show-config` list them.
const std::vector<KeyInfo>& Keys();

// The key part of `sfactoryd --help`: two lines a key, default and help.
std::string KeysHelp();

// Defaults for this user (root or not) and machine, derived keys resolved.
Config DefaultConfig();

// Fills keys whose default derives from others (cache_dir from state_dir,
// catalog and recipe_dirs from data_dir) when they were not set.
void ApplyDerivedDefaults(Config& config);

// OK unless a TCP address in config.listen has no TLS; the error names
// `where` (the file and line of `listen`, or the flag).
absl::Status CheckListenTls(const Config& config, absl::string_view where);

// Reads `path` over the defaults. Unknown keys and bad values are
// InvalidArgument naming the file and line.
absl::StatusOr<Config> LoadConfig(const std::filesystem::path& path);
absl::StatusOr<Config> ParseConfig(absl::string_view yaml, absl::string_view source);

// "key: value  # from …" lines for --show-config.
std::string Describe(const Config& config);

}  // namespace sfactory::config
