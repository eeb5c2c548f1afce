#include "daemon/artifacts/artifact_store.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <string>

#include <cerrno>

#include "common/fs.h"
#include "common/sha256.h"
#include "tests/fault_env.h"
#include "tests/test_dir.h"

namespace sfactory::artifacts {
namespace {

namespace fs = std::filesystem;

using Scratch = ::sfactory::testing::ScratchDir;

int CountFiles(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) (void)e, ++n;
  return n;
}

struct Fixture {
  explicit Fixture(Env* env = Env::Default()) : store(tmp.path() / "artifacts", env) {
    REQUIRE(store.Init().ok());
  }
  fs::path Make(const std::string& name, const std::string& content) {
    fs::path p = tmp.path() / "out" / name;
    REQUIRE(MakeDirs(p.parent_path()).ok());
    REQUIRE(WriteFileAtomic(p, content).ok());
    return p;
  }
  Scratch tmp;
  ArtifactStore store;
};

TEST_CASE("ArtifactStore Put moves the file in under its sha256", "[build][artifacts]") {
  Fixture f;
  fs::path file = f.Make("slurm-24.11.5.tar.zst", "software bytes");
  auto a = f.store.Put(file, "slurm-24.11.5.tar.zst", "software");
  INFO(a.status().ToString());
  REQUIRE(a.ok());
  const std::string sha = Sha256Hex("software bytes");
  CHECK(a->name() == "slurm-24.11.5.tar.zst");
  CHECK(a->sha256() == sha);
  CHECK(a->size() == 14);
  CHECK(a->kind() == "software");
  CHECK(!fs::exists(file));
  CHECK(f.store.PathOf(sha) == f.tmp.path() / "artifacts" / "sha256" / sha);
  CHECK(*ReadFile(f.store.PathOf(sha)) == "software bytes");
  struct stat st;
  REQUIRE(::stat(f.store.PathOf(sha).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0444);
}

TEST_CASE("Put of identical content twice keeps one file", "[build][artifacts]") {
  Fixture f;
  auto a = f.store.Put(f.Make("a.tar", "same"), "a.tar", "software");
  auto b = f.store.Put(f.Make("b.tar", "same"), "b.tar", "other");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->sha256() == b->sha256());
  CHECK(b->name() == "b.tar");
  CHECK(b->kind() == "other");
  CHECK(CountFiles(f.tmp.path() / "artifacts" / "sha256") == 1);
  CHECK(*ReadFile(f.store.PathOf(a->sha256())) == "same");

  auto c = f.store.Put(f.Make("c.tar", "different"), "c.tar", "software");
  REQUIRE(c.ok());
  CHECK(CountFiles(f.tmp.path() / "artifacts" / "sha256") == 2);
}

// Known bug: when the content is already stored, Put leaves the caller's
// file where it was although the contract says it is moved in.
TEST_CASE("Put of content already stored still consumes the file", "[build][artifacts]") {
  Fixture f;
  REQUIRE(f.store.Put(f.Make("a.tar", "same"), "a.tar", "software").ok());
  fs::path second = f.Make("b.tar", "same");
  REQUIRE(f.store.Put(second, "b.tar", "software").ok());
  CHECK(!fs::exists(second));
}

TEST_CASE("Put of a missing file is NotFound and stores nothing", "[build][artifacts]") {
  Fixture f;
  auto a = f.store.Put(f.tmp.path() / "nope", "nope", "software");
  REQUIRE(!a.ok());
  CHECK(a.status().code() == absl::StatusCode::kNotFound);
  CHECK(CountFiles(f.tmp.path() / "artifacts" / "sha256") == 0);
}

TEST_CASE("ArtifactStore Init keeps artifacts and clears temporary files", "[build][artifacts]") {
  Fixture f;
  auto a = f.store.Put(f.Make("a.tar", "kept"), "a.tar", "software");
  REQUIRE(a.ok());
  REQUIRE(WriteFileAtomic(f.tmp.path() / "artifacts" / "tmp" / "half-copied", "x").ok());
  ArtifactStore again(f.tmp.path() / "artifacts");
  REQUIRE(again.Init().ok());
  CHECK(CountFiles(f.tmp.path() / "artifacts" / "tmp") == 0);
  CHECK(*ReadFile(again.PathOf(a->sha256())) == "kept");
}

// Faults. A rename across filesystems (EXDEV) makes Put copy the file,
// which is where it writes; the copy must fail cleanly.
struct FaultFixture {
  FaultFixture() { env.rename_errno = EXDEV; }
  testing::FaultEnv env;
  Fixture f{&env};
  const std::string sha = Sha256Hex(std::string(100000, 'a'));
  fs::path Make() { return f.Make("slurm.tar.zst", std::string(100000, 'a')); }
  // Nothing stored, no temporary file left, the input kept.
  void CheckNothingStored(const fs::path& file) {
    CHECK(!fs::exists(f.store.PathOf(sha)));
    CHECK(CountFiles(f.tmp.path() / "artifacts" / "sha256") == 0);
    CHECK(CountFiles(f.tmp.path() / "artifacts" / "tmp") == 0);
    CHECK(*ReadFile(file) == std::string(100000, 'a'));
  }
};

TEST_CASE("Put copies across filesystems, read-only and durably", "[build][artifacts][fault]") {
  FaultFixture t;
  fs::path file = t.Make();
  auto a = t.f.store.Put(file, "slurm.tar.zst", "software");
  INFO(a.status().ToString());
  REQUIRE(a.ok());
  CHECK(*ReadFile(t.f.store.PathOf(t.sha)) == std::string(100000, 'a'));
  CHECK(!fs::exists(file));
  CHECK(CountFiles(t.f.tmp.path() / "artifacts" / "tmp") == 0);
  CHECK(t.env.syncs == 1);
  CHECK(t.env.dir_syncs == 1);
  struct stat st;
  REQUIRE(::stat(t.f.store.PathOf(t.sha).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0444);
}

TEST_CASE("Put on a full disk is ResourceExhausted and stores nothing",
          "[build][artifacts][fault]") {
  FaultFixture t;
  fs::path file = t.Make();
  t.env.space_left = 5000;
  auto a = t.f.store.Put(file, "slurm.tar.zst", "software");
  REQUIRE_FALSE(a.ok());
  CHECK(a.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK_THAT(std::string(a.status().message()),
             Catch::Contains("copy artifact slurm.tar.zst") && Catch::Contains("free disk space"));
  t.CheckNothingStored(file);
}

TEST_CASE("Put with a failing write or fsync reports it and stores nothing",
          "[build][artifacts][fault]") {
  FaultFixture t;
  fs::path file = t.Make();
  std::string expected;
  SECTION("write") {
    t.env.fail_write_number = 1;
    expected = "Input/output error";
  }
  SECTION("fsync") {
    t.env.fail_sync = true;
    expected = "fsync";
  }
  auto a = t.f.store.Put(file, "slurm.tar.zst", "software");
  REQUIRE_FALSE(a.ok());
  CHECK_THAT(std::string(a.status().message()), Catch::Contains(expected));
  t.CheckNothingStored(file);
}

TEST_CASE("Put that cannot rename for another reason keeps the file", "[build][artifacts][fault]") {
  FaultFixture t;
  fs::path file = t.Make();
  t.env.rename_errno = EACCES;
  auto a = t.f.store.Put(file, "slurm.tar.zst", "software");
  CHECK(a.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK_THAT(std::string(a.status().message()), Catch::Contains("store artifact slurm.tar.zst"));
  t.CheckNothingStored(file);
}

TEST_CASE("Put makes the rename durable by fsyncing the directory", "[build][artifacts][fault]") {
  testing::FaultEnv env;
  Fixture f(&env);
  REQUIRE(f.store.Put(f.Make("a.tar", "a"), "a.tar", "software").ok());
  CHECK(env.renames == 1);
  CHECK(env.dir_syncs == 1);
}

}  // namespace
}  // namespace sfactory::artifacts
