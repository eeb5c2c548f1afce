#include "client/fetch.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "client_test_util.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "fake_daemon.h"

namespace sfactory::client::testing {
namespace {
namespace fs = std::filesystem;

std::string Bytes(size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1103515245u + 12345u;
    s[i] = static_cast<char>(seed >> 16);
  }
  return s;
}

TempDir OutDir() {
  absl::StatusOr<TempDir> dir = TempDir::Create("sfactory-fetch-test-");
  REQUIRE(dir.ok());
  return std::move(*dir);
}

const std::string kSoftware = "slurm-24.11.5-native-debian-12-x86_64-software.tar.zst";
const std::string kModule = "slurm-24.11.5-native-debian-12-x86_64-module.tar.gz";

TEST_CASE("fetch downloads every artifact and prints the paths", "[client]") {
  FakeDaemon daemon;
  const std::string software = Bytes(50000, 1);
  const std::string module = Bytes(3000, 2);
  daemon.AddSucceededBuild("b1", {{kSoftware, software}, {kModule, module}});
  TempDir out = OutDir();

  RunResult r = RunClient(daemon.address(), {"fetch", "b1", "-o", out.path().string()});
  REQUIRE(r.code == 0);
  CHECK(ReadFile(out.path() / kSoftware).value() == software);
  CHECK(ReadFile(out.path() / kModule).value() == module);
  CHECK(r.out == (out.path() / kSoftware).string() + "\n" + (out.path() / kModule).string() + "\n");
  CHECK(r.err.find(kSoftware) != std::string::npos);
  CHECK_FALSE(fs::exists(out.path() / (kSoftware + ".part")));
}

TEST_CASE("fetch resumes after the stream is cut and ends with a correct file", "[client]") {
  FakeDaemon daemon;
  const std::string software = Bytes(50000, 3);
  daemon.AddSucceededBuild("b1", {{kSoftware, software}});
  daemon.With([](FakeState& s) {
    s.fetch_cuts = 1;
    s.fetch_cut_after = 20500;  // mid-chunk
  });
  TempDir out = OutDir();

  RunResult r = RunClient(daemon.address(), {"fetch", "b1", "-o", out.path().string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(ReadFile(out.path() / kSoftware).value() == software);
  CHECK(daemon.Snapshot().fetch_offsets == std::vector<uint64_t>{0, 20500});
}

TEST_CASE("fetch resumes from a .part file left by an earlier run", "[client]") {
  FakeDaemon daemon;
  const std::string software = Bytes(50000, 4);
  daemon.AddSucceededBuild("b1", {{kSoftware, software}});
  TempDir out = OutDir();
  REQUIRE(WriteFileAtomic(out.path() / (kSoftware + ".part"), software.substr(0, 12345)).ok());

  RunResult r = RunClient(daemon.address(), {"fetch", "b1", "-o", out.path().string()});
  REQUIRE(r.code == 0);
  CHECK(ReadFile(out.path() / kSoftware).value() == software);
  CHECK(daemon.Snapshot().fetch_offsets == std::vector<uint64_t>{12345});
  CHECK(r.err.find("resumed") != std::string::npos);
}

TEST_CASE("fetch starts over when a resumed .part held other bytes", "[client]") {
  FakeDaemon daemon;
  const std::string software = Bytes(50000, 5);
  daemon.AddSucceededBuild("b1", {{kSoftware, software}});
  TempDir out = OutDir();
  REQUIRE(WriteFileAtomic(out.path() / (kSoftware + ".part"), Bytes(1000, 99)).ok());

  RunResult r = RunClient(daemon.address(), {"fetch", "b1", "-o", out.path().string()});
  REQUIRE(r.code == 0);
  CHECK(ReadFile(out.path() / kSoftware).value() == software);
  CHECK(daemon.Snapshot().fetch_offsets == std::vector<uint64_t>{1000, 0});
}

TEST_CASE("fetch with a wrong digest leaves no file and exits with the integrity code",
          "[client]") {
  FakeDaemon daemon;
  daemon.AddSucceededBuild("b1", {{kSoftware, Bytes(5000, 6)}});
  const std::string wrong = Sha256Hex("something else");
  daemon.With([&](FakeState& s) {
    s.builds["b1"].mutable_artifacts(0)->set_sha256(wrong);
    s.artifacts["b1"][0].listed.set_sha256(wrong);
  });
  TempDir out = OutDir();

  RunResult r = RunClient(daemon.address(), {"fetch", "b1", "-o", out.path().string()});
  CHECK(r.code == 7);
  CHECK(r.err.find("sha256 mismatch") != std::string::npos);
  CHECK(r.out.empty());
  CHECK(fs::is_empty(out.path()));
}

TEST_CASE("fetch refuses an artifact whose header disagrees with the build", "[client]") {
  FakeDaemon daemon;
  daemon.AddSucceededBuild("b1", {{kSoftware, Bytes(5000, 7)}});
  daemon.With([](FakeState& s) { s.artifacts["b1"][0].listed.set_size(4000); });
  TempDir out = OutDir();

  RunResult r = RunClient(daemon.address(), {"fetch", "b1", "-o", out.path().string()});
  CHECK(r.code == 7);
  CHECK_FALSE(fs::exists(out.path() / kSoftware));
}

TEST_CASE("fetch skips an artifact that is already present", "[client]") {
  FakeDaemon daemon;
  const std::string software = Bytes(5000, 8);
  daemon.AddSucceededBuild("b1", {{kSoftware, software}});
  TempDir out = OutDir();
  REQUIRE(WriteFileAtomic(out.path() / kSoftware, software).ok());

  RunResult r = RunClient(daemon.address(), {"fetch", "b1", "-o", out.path().string()});
  REQUIRE(r.code == 0);
  CHECK(r.err.find("already present") != std::string::npos);
  CHECK(daemon.Snapshot().fetch_offsets.empty());
  CHECK(r.out == (out.path() / kSoftware).string() + "\n");
}

TEST_CASE("fetch replaces a present file whose digest is wrong", "[client]") {
  FakeDaemon daemon;
  const std::string software = Bytes(5000, 9);
  daemon.AddSucceededBuild("b1", {{kSoftware, software}});
  TempDir out = OutDir();
  REQUIRE(WriteFileAtomic(out.path() / kSoftware, Bytes(5000, 10)).ok());

  RunResult r = RunClient(daemon.address(), {"fetch", "b1", "-o", out.path().string()});
  REQUIRE(r.code == 0);
  CHECK(ReadFile(out.path() / kSoftware).value() == software);
}

TEST_CASE("fetch --name fetches one artifact, and an unknown name is not found", "[client]") {
  FakeDaemon daemon;
  daemon.AddSucceededBuild("b1", {{kSoftware, Bytes(5000, 11)}, {kModule, Bytes(100, 12)}});
  TempDir out = OutDir();

  RunResult r = RunClient(daemon.address(),
                          {"fetch", "b1", "-o", out.path().string(), "--name", kModule});
  REQUIRE(r.code == 0);
  CHECK(fs::exists(out.path() / kModule));
  CHECK_FALSE(fs::exists(out.path() / kSoftware));

  RunResult missing = RunClient(daemon.address(),
                                {"fetch", "b1", "-o", out.path().string(), "--name", "nope"});
  CHECK(missing.code == 5);
  CHECK(missing.err.find(kSoftware) != std::string::npos);  // lists what exists
}

TEST_CASE("fetch of a running build is bad input", "[client]") {
  FakeDaemon daemon;
  daemon.With([](FakeState& s) { s.builds["b2"] = MakeBuild("b2", v1::BUILD_STATE_RUNNING); });
  TempDir out = OutDir();
  RunResult r = RunClient(daemon.address(), {"fetch", "b2", "-o", out.path().string()});
  CHECK(r.code == 2);
  CHECK(r.err.find("running") != std::string::npos);
}

TEST_CASE("fetch refuses artifact names that leave the output directory", "[client]") {
  FakeDaemon daemon;
  daemon.AddSucceededBuild("b1", {{"../escape", "x"}});
  TempDir out = OutDir();
  RunResult r = RunClient(daemon.address(), {"fetch", "b1", "-o", out.path().string()});
  CHECK(r.code == 70);
  CHECK_FALSE(fs::exists(out.path().parent_path() / "escape"));
}

TEST_CASE("fetch does not write through a .part that is a symlink", "[client]") {
  FakeDaemon daemon;
  daemon.AddSucceededBuild("b1", {{kSoftware, "the artifact"}});
  TempDir out = OutDir();
  TempDir elsewhere = OutDir();
  const fs::path target = elsewhere.path() / "victim";
  REQUIRE(WriteFileAtomic(target, "precious", 0600).ok());
  const fs::path part = out.path() / (kSoftware + ".part");
  fs::create_symlink(target, part);

  RunResult r = RunClient(daemon.address(), {"fetch", "b1", "-o", out.path().string()});
  CHECK(r.code == 2);
  CHECK(r.err.find("is a symbolic link") != std::string::npos);
  CHECK(r.err.find("Remove it") != std::string::npos);
  CHECK(ReadFile(target).value() == "precious");
  CHECK(fs::is_symlink(part));
  CHECK_FALSE(fs::exists(out.path() / kSoftware));

  // Once the link is gone, the fetch works.
  fs::remove(part);
  r = RunClient(daemon.address(), {"fetch", "b1", "-o", out.path().string()});
  CHECK(r.code == 0);
  CHECK(ReadFile(out.path() / kSoftware).value() == "the artifact");
  CHECK(ReadFile(target).value() == "precious");
}

}  // namespace
}  // namespace sfactory::client::testing
