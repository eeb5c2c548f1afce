// sfactoryd's configuration: one table of keys (kKeys) with defaults and
// help. Every value records where it came from (default, file, flag) so
// `sfactoryd --show-config` can say.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "yaml-cpp/yaml.h"

namespace sfactory::config {

enum class ProviderKind { kAuto, kLocal, kLxd };
enum class CompressionKind { kZstd, kGzip };

struct Config {
  std::vector<std::string> listen;  // gRPC addresses: "unix:/path" or "host:port"
  std::string socket_group;         // group that may enter the socket's directory
  std::filesystem::path state_dir;
  std::filesystem::path cache_dir;
  std::filesystem::path data_dir;   // catalog.yaml, recipes/, modules/
  std::filesystem::path catalog;
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
  // The raw `lxd:` section, parsed by the LXD provider.
  YAML::Node lxd;
  std::string lxd_source;           // file name for messages about `lxd:`

  // key → "default" | "file <path>" | "flag"
  std::map<std::string, std::string> origin;
};

struct KeyInfo {
  const char* key;
  const char* default_text;
  const char* help;
};
// Every top-level key, in the order `--help` lists them.
const std::vector<KeyInfo>& Keys();

// Defaults for this user (root or not) and machine, derived keys resolved.
Config DefaultConfig();

// Fills keys whose default derives from others (cache_dir from state_dir,
// catalog and recipe_dirs from data_dir) when they were not set.
void ApplyDerivedDefaults(Config& config);

// Reads `path` over the defaults. Unknown keys and bad values are
// InvalidArgument naming the file and line.
absl::StatusOr<Config> LoadConfig(const std::filesystem::path& path);
absl::StatusOr<Config> ParseConfig(absl::string_view yaml, absl::string_view source);

// "key: value  # from …" lines for --show-config.
std::string Describe(const Config& config);

}  // namespace sfactory::config
