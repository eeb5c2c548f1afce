#include <catch2/catch.hpp>

#include "common/catalog.h"

namespace sfactory {
namespace {

TEST_CASE("Catalog parses the shipped templates/catalog.yaml", "[common][catalog]") {
  auto c = Catalog::LoadFile(SFACTORY_SOURCE_DIR "/templates/catalog.yaml");
  REQUIRE(c.ok());
  for (std::string series : {"23.02", "23.11", "24.11", "25.05"}) {
    auto r = c->Resolve(series);
    REQUIRE(r.ok());
    CHECK((*r)->series == series);
    CHECK(!(*r)->sources.empty());
  }
  auto r = c->Resolve("24.11");
  REQUIRE(r.ok());
  CHECK((*r)->version == "24.11.5");
  const SourceFile* debian = c->FindSource("slurm-wlm_24.11.5.orig.tar.gz");
  REQUIRE(debian != nullptr);
  CHECK(debian->sha256 == "e1a5547edd212c38b5e3230a284133f777b32746551f094aaa81cc4af375e332");
  CHECK(debian->top_dir == "slurm-slurm-24-11-5-1");
}

TEST_CASE("Catalog errors name the file and line", "[common][catalog]") {
  auto c = Catalog::Parse("series:\n  \"24.11\":\n    pinned: \"24.11.9\"\n    releases:\n"
                          "      \"24.11.5\": {sources: [{name: a.tar.gz, sha256: 1111111111111111111111111111111111111111111111111111111111111111}]}\n",
                          "cat.yaml");
  REQUIRE(!c.ok());
  CHECK(c.status().message().find("cat.yaml:3") != absl::string_view::npos);
  CHECK(c.status().message().find("24.11.9") != absl::string_view::npos);

  auto d = Catalog::Parse("series:\n  \"24.11\":\n    pinned: \"24.11.5\"\n    colour: red\n",
                          "cat.yaml");
  REQUIRE(!d.ok());
  CHECK(d.status().message().find("unknown key 'colour'") != absl::string_view::npos);
}

TEST_CASE("Catalog rejects a bad sha256 and a release outside its series", "[common][catalog]") {
  auto c = Catalog::Parse(
      "series: {\"24.11\": {pinned: \"24.11.5\", releases: {\"24.11.5\": {sources: "
      "[{name: a.tar.gz, sha256: ABC}]}}}}",
      "x");
  CHECK(!c.ok());
  auto d = Catalog::Parse(
      "series: {\"24.11\": {pinned: \"24.11.5\", releases: {\"25.05.1\": {sources: []}}}}", "x");
  CHECK(!d.ok());
}

TEST_CASE("Catalog refuses a source without a sha256, naming it and the line",
          "[common][catalog]") {
  auto c = Catalog::Parse("series:\n  \"24.11\":\n    pinned: \"24.11.5\"\n    releases:\n"
                          "      \"24.11.5\": {sources: [{name: a.tar.gz}]}\n",
                          "cat.yaml");
  REQUIRE(!c.ok());
  CHECK(c.status().message().find("cat.yaml:5") != absl::string_view::npos);
  CHECK(c.status().message().find("'a.tar.gz' needs a 'sha256'") != absl::string_view::npos);
}

TEST_CASE("Release digest changes when a source digest changes", "[common][catalog]") {
  auto a = Catalog::Parse(
      "series: {\"24.11\": {pinned: \"24.11.5\", releases: {\"24.11.5\": {sources: "
      "[{name: a.tar.gz, sha256: 1111111111111111111111111111111111111111111111111111111111111111}]}}}}", "x");
  auto b = Catalog::Parse(
      "series: {\"24.11\": {pinned: \"24.11.5\", releases: {\"24.11.5\": {sources: "
      "[{name: a.tar.gz, sha256: "
      "e1a5547edd212c38b5e3230a284133f777b32746551f094aaa81cc4af375e332}]}}}}", "x");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK((*a->Resolve("24.11"))->digest != (*b->Resolve("24.11"))->digest);
}

}  // namespace
}  // namespace sfactory
