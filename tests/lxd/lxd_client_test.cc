#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>

#include "common/fs.h"
#include "daemon/provider/lxd/lxd_client.h"
#include "daemon/provider/lxd/lxd_provider.h"
#include "tests/lxd/lxd_test_util.h"
#include "tests/skip.h"

namespace sfactory::provider::lxd {
namespace {

using testing::LxdAvailable;
using testing::LxdUnavailableReason;
using testing::TestOptions;

TEST_CASE("LxdClient reads the server over the unix socket", "[lxd]") {
  if (!LxdAvailable()) SF_SKIP(LxdUnavailableReason());
  auto client = LxdClient::Create(EndpointFor(TestOptions()));
  REQUIRE(client.ok());
  auto server = (*client)->Sync("GET", "/1.0", Json(), "read server info");
  REQUIRE(server.ok());
  CHECK(server->value("api_version", "") == "1.0");
  CHECK(server->value("auth", "") == "trusted");
}

TEST_CASE("LxdClient errors name the operation and keep LXD's message", "[lxd]") {
  if (!LxdAvailable()) SF_SKIP(LxdUnavailableReason());
  auto client = LxdClient::Create(EndpointFor(TestOptions()));
  REQUIRE(client.ok());
  auto missing = (*client)->Sync("GET", "/1.0/instances/sf-no-such-build", Json(),
                                 "read instance sf-no-such-build");
  REQUIRE_FALSE(missing.ok());
  CHECK(absl::IsNotFound(missing.status()));
  CHECK(missing.status().message().rfind("lxd: read instance sf-no-such-build: ", 0) == 0);
}

TEST_CASE("Check explains a missing LXD socket and how to start LXD", "[lxd]") {
  auto dir = TempDir::Create("lxd-check-");
  REQUIRE(dir.ok());
  LxdOptions options = TestOptions();
  options.socket = (dir->path() / "no-such.socket").string();
  CHECK_FALSE(LxdAnswers(options));
  auto provider = MakeLxdProvider(options, dir->path());
  REQUIRE(provider.ok());
  absl::Status s = (*provider)->Check();
  CHECK(absl::IsUnavailable(s));
  CHECK(s.message().find("no-such.socket") != std::string::npos);
  CHECK(s.message().find("systemctl start lxd") != std::string::npos);
}

TEST_CASE("Check explains an LXD that refuses connections", "[lxd]") {
  auto dir = TempDir::Create("lxd-check-");
  REQUIRE(dir.ok());
  // A socket file nobody listens on.
  std::string path = (dir->path() / "dead.socket").string();
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::close(fd);
  LxdOptions options = TestOptions();
  options.socket = path;
  auto provider = MakeLxdProvider(options, dir->path());
  REQUIRE(provider.ok());
  absl::Status s = (*provider)->Check();
  CHECK(absl::IsUnavailable(s));
  CHECK(s.message().find("LXD is not running") != std::string::npos);
}

}  // namespace
}  // namespace sfactory::provider::lxd
