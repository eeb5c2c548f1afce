#include <catch2/catch.hpp>
#include <filesystem>

#include "client_test_util.h"
#include "common/fs.h"
#include "fake_daemon.h"

namespace sfactory::client::testing {
namespace {
namespace fs = std::filesystem;

const std::string kBundle = std::string(30000, 'x') + "bundle end";

TEST_CASE("debug downloads the bundle through FILE.part and prints its path", "[client]") {
  FakeDaemon daemon;
  daemon.With([](FakeState& s) { s.builds["b1"] = MakeBuild("b1", v1::BUILD_STATE_FAILED); });
  daemon.SetDebugBundle("b1", kBundle);
  TempDir out = NewTempDir("sfactory-debug-test-");
  const fs::path file = out.path() / "b1.tar.gz";

  RunResult r = RunClient(daemon.address(), {"debug", "b1", "-o", file.string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out == file.string() + "\n");
  CHECK(ReadFile(file).value() == kBundle);
  CHECK_FALSE(fs::exists(out.path() / "b1.tar.gz.part"));
  CHECK(Contains(r.err, "b1-debug.tar.gz"));
  CHECK(Contains(r.err, "sha256 ok"));

  // Into a directory: under the bundle's own name.
  r = RunClient(daemon.address(), {"debug", "b1", "-o", out.path().string()});
  REQUIRE(r.code == 0);
  CHECK(ReadFile(out.path() / "b1-debug.tar.gz").value() == kBundle);
}

TEST_CASE("debug resumes a cut stream and checks the sha256", "[client]") {
  FakeDaemon daemon;
  daemon.With([](FakeState& s) {
    s.builds["b1"] = MakeBuild("b1", v1::BUILD_STATE_FAILED);
    s.fetch_cuts = 1;
    s.fetch_cut_after = 12345;
  });
  daemon.SetDebugBundle("b1", kBundle);
  TempDir out = NewTempDir("sfactory-debug-test-");
  RunResult r = RunClient(daemon.address(), {"debug", "b1", "-o", (out.path() / "b.tgz").string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(ReadFile(out.path() / "b.tgz").value() == kBundle);
  FakeState seen = daemon.Snapshot();
  REQUIRE(seen.fetch_offsets.size() == 2);
  CHECK(seen.fetch_offsets[1] == 12345);
}

TEST_CASE("debug of a build without a bundle shows the daemon's reason and leaves no file",
          "[client]") {
  FakeDaemon daemon;
  daemon.With([](FakeState& s) {
    s.builds["b1"] = MakeBuild("b1", v1::BUILD_STATE_SUCCEEDED);
    s.debug_error = grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 "build b1 kept no debug bundle (it succeeded; only failed builds "
                                 "keep one)");
  });
  TempDir out = NewTempDir("sfactory-debug-test-");
  const fs::path file = out.path() / "b1.tar.gz";
  RunResult r = RunClient(daemon.address(), {"debug", "b1", "-o", file.string()});
  CHECK(r.code != 0);
  CHECK(Contains(r.err, "only failed builds keep one"));
  CHECK_FALSE(fs::exists(file));
  CHECK_FALSE(fs::exists(out.path() / "b1.tar.gz.part"));
}

TEST_CASE("debug refused by the daemon leaves no empty .part behind", "[client]") {
  FakeDaemon daemon;
  daemon.With([](FakeState& s) { s.builds["b1"] = MakeBuild("b1", v1::BUILD_STATE_FAILED); });
  daemon.SetDebugBundle("b1", kBundle);
  daemon.With([](FakeState& s) {
    s.debug_bundles.clear();  // listed, but the daemon refuses the stream
    s.debug_error = grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "owner or admin only");
  });
  TempDir out = NewTempDir("sfactory-debug-test-");
  RunResult r =
      RunClient(daemon.address(), {"debug", "b1", "-o", (out.path() / "b.tgz").string()});
  CHECK(r.code == 6);
  CHECK(Contains(r.err, "owner or admin only"));
  CHECK_FALSE(fs::exists(out.path() / "b.tgz.part"));
}

}  // namespace
}  // namespace sfactory::client::testing
