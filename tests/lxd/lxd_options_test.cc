#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "common/yaml_util.h"
#include "daemon/provider/lxd/lxd_options.h"
#include "daemon/provider/lxd/lxd_provider.h"

namespace sfactory::provider::lxd {
namespace {

YAML::Node Yaml(const std::string& text) {
  auto node = ParseYaml(text, "sfactoryd.yaml");
  REQUIRE(node.ok());
  return (*node)["lxd"];
}

TEST_CASE("ParseLxdOptions reads every key", "[lxd]") {
  auto o = ParseLxdOptions("sfactoryd.yaml", Yaml(R"(
lxd:
  socket: /run/lxd.socket
  url: https://lxd.example:8443
  client_cert: /etc/sfactory/lxd.crt
  client_key: /etc/sfactory/lxd.key
  server_cert: /etc/sfactory/server.crt
  project: builds
  storage_pool: fast
  base_max_age_days: 30
  image_source: debian/12
  debian_mirror: http://mirror.local/debian
  cpus: 4
  memory: 8GiB
  privileged: true
  operation_timeout_seconds: 900
)"));
  REQUIRE(o.ok());
  CHECK(o->socket == "/run/lxd.socket");
  CHECK(o->url == "https://lxd.example:8443");
  CHECK(o->project == "builds");
  CHECK(o->storage_pool == "fast");
  CHECK(o->base_max_age_days == 30);
  CHECK(o->image_source == "debian/12");
  CHECK(o->debian_mirror == "http://mirror.local/debian");
  CHECK(o->cpus == 4);
  CHECK(o->memory_bytes == (uint64_t{8} << 30));
  CHECK(o->operation_timeout_seconds == 900);
  CHECK(o->privileged);
}

TEST_CASE("ParseLxdOptions gives defaults for a missing section", "[lxd]") {
  auto o = ParseLxdOptions("sfactoryd.yaml", YAML::Node());
  REQUIRE(o.ok());
  CHECK(o->project == "sfactory");
  CHECK(o->base_max_age_days == 90);
  CHECK(o->image_source.empty());
}

TEST_CASE("ParseLxdOptions names the file and line of an unknown key", "[lxd]") {
  auto o = ParseLxdOptions("sfactoryd.yaml", Yaml("lxd:\n  project: x\n  keep_failed: true\n"));
  REQUIRE_FALSE(o.ok());
  CHECK(o.status().message().find("sfactoryd.yaml:3:") != std::string::npos);
  CHECK(o.status().message().find("keep_failed") != std::string::npos);
}

TEST_CASE("ParseLxdOptions wants client certificates for a remote url", "[lxd]") {
  auto o = ParseLxdOptions("c.yaml", Yaml("lxd:\n  url: https://h:8443\n"));
  REQUIRE_FALSE(o.ok());
  CHECK(o.status().message().find("client_cert") != std::string::npos);
  auto bad = ParseLxdOptions("c.yaml", Yaml("lxd:\n  memory: lots\n"));
  CHECK_FALSE(bad.ok());
}

TEST_CASE("An lxd: section that names LXD counts as LXD installed, for provider: auto", "[lxd]") {
  LxdOptions socket;
  socket.socket = "/nonexistent/lxd.sock";
  CHECK(LxdInstalledBecause(socket) == "the config names the LXD socket /nonexistent/lxd.sock");
  LxdOptions remote;
  remote.url = "https://lxd.example:8443";
  CHECK(LxdInstalledBecause(remote) == "the config names LXD at https://lxd.example:8443");
  // This host runs the lxd tests, so it has LXD; the reason names a path.
  CHECK(absl::StrContains(LxdInstalledBecause(LxdOptions{}), " exists"));
}

}  // namespace
}  // namespace sfactory::provider::lxd
