#include "daemon/artifacts/artifact_store.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <string>

#include "common/fs.h"
#include "tests/test_dir.h"
#include "common/sha256.h"

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
  Fixture() : store(tmp.path() / "artifacts") { REQUIRE(store.Init().ok()); }
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

}  // namespace
}  // namespace sfactory::artifacts
