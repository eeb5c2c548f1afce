#include <catch2/catch.hpp>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "daemon/config/config.h"

namespace sfactory::config {
namespace {

// A value other than the default for every key. Lists hold one item:
// --show-config prints a longer list as "a, b", which reads back as one.
const char* kEveryKeyChanged = R"(
listen: 127.0.0.1:7100
socket_group: wheel
state_dir: /data/state
cache_dir: /fast/cache
data_dir: /data/share
catalog: /data/releases.yaml
recipe_dirs: [/data/recipes-local]
catalog_dirs: [/data/catalog.d]
provider: local
max_parallel_builds: 256
build_jobs: 1
retry_cap: 100
priority_aging_seconds: 0
queue_paused: yes
verify_by_default: false
compression: gzip
source_date_epoch: 1700000000
default_recipe: spack
default_os: ubuntu-24.04
default_arch: ppc64le
instance_cpus: 4096
instance_memory: 1KiB
min_free_space: 0
allow_downloads: no
log_level: trace
metrics_listen: "[::1]:9100"
max_build_time: 1h30m
max_log_size: 0
lxd: {project: ci, base_max_age_days: 7}
tls: {cert_file: /etc/sf/cert.pem, key_file: /etc/sf/key.pem, client_ca_file: /etc/sf/ca.pem}
admins: {users: [alice], groups: [wheel]}
max_priority: 10
max_source_size: 1GiB
)";

TEST_CASE("Every config key parses its own printed value back", "[config]") {
  auto changed = ParseConfig(kEveryKeyChanged, "changed.yaml");
  INFO(changed.status().ToString());
  REQUIRE(changed.ok());
  const Config defaults = DefaultConfig();
  const Config& every_key_changed = *changed;
  for (const Config* c : {&defaults, &every_key_changed}) {
    for (const KeyInfo& k : Keys()) {
      const std::string printed = k.codec.print(*c);
      INFO(k.key << ": " << printed);
      // A TCP listen address is valid only with TLS (CheckListenTls).
      const char* tls = std::string(k.key) == "listen" ? "tls: {cert_file: /c, key_file: /k}\n" : "";
      auto back =
          ParseConfig(absl::StrCat(k.key, ": ", printed, "\n", tls), "printed.yaml");
      INFO(back.status().ToString());
      REQUIRE(back.ok());
      CHECK(k.codec.print(*back) == printed);
      CHECK(back->origin.at(k.key) == "file printed.yaml");
    }
  }
}

TEST_CASE("The every-key config changes every key from its default", "[config]") {
  auto changed = ParseConfig(kEveryKeyChanged, "changed.yaml");
  REQUIRE(changed.ok());
  const Config defaults = DefaultConfig();
  for (const KeyInfo& k : Keys()) {
    INFO(k.key);
    CHECK(k.codec.print(*changed) != k.codec.print(defaults));
  }
}

TEST_CASE("Describe's output read as a config gives the same values", "[config]") {
  auto changed = ParseConfig(kEveryKeyChanged, "changed.yaml");
  REQUIRE(changed.ok());
  // The "# from" parts are YAML comments.
  auto back = ParseConfig(Describe(*changed), "shown.yaml");
  INFO(back.status().ToString());
  REQUIRE(back.ok());
  for (const KeyInfo& k : Keys()) {
    INFO(k.key);
    CHECK(k.codec.print(*back) == k.codec.print(*changed));
  }
}

TEST_CASE("KeysHelp lists every key with its default and help", "[config]") {
  const std::string help = KeysHelp();
  for (const KeyInfo& k : Keys()) {
    INFO(k.key);
    CHECK(absl::StrContains(help, absl::StrFormat("  %-24s default %s\n  %-24s %s\n", k.key,
                                                  k.default_text, "", k.help)));
  }
}

}  // namespace
}  // namespace sfactory::config
