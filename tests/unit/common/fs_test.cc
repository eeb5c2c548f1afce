#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "common/fs.h"

namespace sfactory {
namespace {

TEST_CASE("WriteFileAtomic replaces content and leaves no temp file", "[common][fs]") {
  auto dir = TempDir::Create("sf-fs-");
  REQUIRE(dir.ok());
  auto p = dir->path() / "a";
  REQUIRE(WriteFileAtomic(p, "one").ok());
  REQUIRE(WriteFileAtomic(p, "two").ok());
  CHECK(*ReadFile(p) == "two");
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir->path())) (void)e, ++n;
  CHECK(n == 1);
}

TEST_CASE("TempDir removes itself unless kept", "[common][fs]") {
  std::filesystem::path kept, removed;
  {
    auto a = TempDir::Create("sf-fs-");
    auto b = TempDir::Create("sf-fs-");
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    removed = a->path();
    kept = b->path();
    b->Keep();
  }
  CHECK(!std::filesystem::exists(removed));
  CHECK(std::filesystem::exists(kept));
  std::filesystem::remove_all(kept);
}

TEST_CASE("ReadFile of a missing file is NotFound", "[common][fs]") {
  CHECK(ReadFile("/nonexistent/sf").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("DirUsage counts allocated bytes and regular files, not symlink targets",
          "[common][fs]") {
  auto dir = TempDir::Create("sf-fs-");
  REQUIRE(dir.ok());
  const auto root = dir->path() / "tree";
  std::filesystem::create_directories(root / "a/b");
  REQUIRE(WriteFileAtomic(root / "one", std::string(100000, 'x')).ok());
  REQUIRE(WriteFileAtomic(root / "a/b/two", std::string(5000, 'y')).ok());
  REQUIRE(WriteFileAtomic(dir->path() / "outside", std::string(1 << 20, 'z')).ok());
  std::filesystem::create_symlink(dir->path() / "outside", root / "link");
  std::filesystem::create_directory_symlink(dir->path(), root / "dirlink");

  auto usage = DirUsage(root);
  REQUIRE(usage.ok());
  CHECK(usage->files == 2);
  // At least the two files' bytes, far less than the 1 MiB behind the link.
  CHECK(usage->bytes >= 105000);
  CHECK(usage->bytes < (1 << 20));

  auto file = DirUsage(root / "one");
  REQUIRE(file.ok());
  CHECK(file->files == 1);
  CHECK(file->bytes >= 100000);

  auto missing = DirUsage(dir->path() / "nope");
  REQUIRE(missing.ok());
  CHECK(missing->bytes == 0);
  CHECK(missing->files == 0);
}

TEST_CASE("MakeDirs sets the mode only of directories it creates", "[common][fs]") {
  auto dir = TempDir::Create("sf-fs-");
  REQUIRE(dir.ok());
  // An existing sticky, world-writable directory, like /tmp.
  const auto sticky = dir->path() / "sticky";
  REQUIRE(::mkdir(sticky.c_str(), 0700) == 0);
  REQUIRE(::chmod(sticky.c_str(), 01777) == 0);
  REQUIRE(MakeDirs(sticky, 0755).ok());
  REQUIRE(MakeDirs(sticky / "a" / "b", 0750).ok());
  struct stat st;
  REQUIRE(::stat(sticky.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 01777);
  REQUIRE(::stat((sticky / "a").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0750);
  REQUIRE(::stat((sticky / "a" / "b").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0750);
  // A file in the way is an error, not a directory.
  REQUIRE(WriteFileAtomic(dir->path() / "file", "x").ok());
  CHECK(!MakeDirs(dir->path() / "file" / "sub").ok());
}

}  // namespace
}  // namespace sfactory
