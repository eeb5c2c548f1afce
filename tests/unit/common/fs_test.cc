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

}  // namespace
}  // namespace sfactory
