#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/time/civil_time.h"
#include "common/catalog.h"
#include "tests/skip.h"
#include "tests/test_dir.h"

namespace sfactory {
namespace {

namespace fs = std::filesystem;

constexpr char kShipped[] = SFACTORY_SOURCE_DIR "/templates/catalog.yaml";
constexpr char kSha1[] = "1111111111111111111111111111111111111111111111111111111111111111";
constexpr char kSha2[] = "2222222222222222222222222222222222222222222222222222222222222222";

absl::Time Utc(int y, int m, int d, int hh = 0, int mm = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, 0), absl::UTCTimeZone());
}

void WriteText(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

bool Contains(absl::string_view haystack, absl::string_view needle) {
  return haystack.find(needle) != absl::string_view::npos;
}

// Every series SchedMD published from 23.02 to 26.05, with the newest patch
// release this project can have (../shared/vendor/slurm) pinned.
TEST_CASE("The shipped catalog pins the newest patch of every series 23.02..26.05",
          "[common][catalog]") {
  auto c = Catalog::LoadFile(kShipped);
  REQUIRE(c.ok());
  const std::map<std::string, std::string> pinned = {
      {"23.02", "23.02.8"}, {"23.11", "23.11.11"}, {"24.05", "24.05.8"}, {"24.11", "24.11.7"},
      {"25.05", "25.05.8"}, {"25.11", "25.11.7"},  {"26.05", "26.05.3"}};
  for (const auto& [series, release] : pinned) {
    INFO(series);
    auto r = c->Resolve(series);
    REQUIRE(r.ok());
    CHECK((*r)->version == release);
    CHECK((*r)->series == series);
    CHECK(!(*r)->sources.empty());
    CHECK(Contains((*r)->origin, "catalog.yaml:"));
  }
  for (const Series& s : c->series()) {
    INFO(s.series);
    CHECK(s.end_of_support.size() == 7);  // YYYY-MM for every shipped series
    for (const Release& r : s.releases) {
      for (const SourceFile& f : r.sources) CHECK(f.sha256.size() == 64);
    }
  }
  CHECK(c->FindSeries("26.05")->end_of_support == "2027-11");
  CHECK(c->FindSeries("25.05")->end_of_support == "2026-11");
}

// The tag archives in the offline kit are byte-identical to GitHub's, so
// the catalog's digests must be the kit's.
TEST_CASE("The shipped catalog's digests are those of the vendor tag archives",
          "[common][catalog]") {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("SFACTORY_SLURM_TARBALLS")) candidates.emplace_back(env);
  candidates.emplace_back(SFACTORY_SOURCE_DIR "/../shared/vendor/slurm");
  candidates.emplace_back("/work/shared/vendor/slurm");
  fs::path sums;
  for (const auto& dir : candidates) {
    std::error_code ec;
    if (fs::exists(dir / "SHA256SUMS", ec)) {
      sums = dir / "SHA256SUMS";
      break;
    }
  }
  if (sums.empty()) SF_SKIP("no SHA256SUMS of the Slurm tag archives (set SFACTORY_SLURM_TARBALLS)");
  auto c = Catalog::LoadFile(kShipped);
  REQUIRE(c.ok());
  std::ifstream in(sums);
  std::string digest, name;
  int checked = 0;
  while (in >> digest >> name) {
    if (!name.empty() && name[0] == '*') name.erase(0, 1);
    INFO(name);
    const SourceFile* f = c->FindSource(name);
    REQUIRE(f != nullptr);
    CHECK(f->sha256 == digest);
    ++checked;
  }
  CHECK(checked >= 8);
}

TEST_CASE("SupportWarning names the month past end of support and the supported series",
          "[common][catalog]") {
  auto c = Catalog::LoadFile(kShipped);
  REQUIRE(c.ok());
  const Release* r2505 = *c->Resolve("25.05");
  // Supported through the last day of November 2026.
  CHECK(c->SupportWarning(*r2505, Utc(2026, 11, 30, 23, 59)).empty());
  std::string w = c->SupportWarning(*r2505, Utc(2026, 12, 2));
  CHECK(Contains(w, "Slurm 25.05 reached its end of support in November 2026"));
  CHECK(Contains(w, "supported series: 25.11, 26.05"));
  CHECK(w.find('\n') == std::string::npos);
  CHECK(c->SupportWarning(**c->Resolve("25.11.7"), Utc(2026, 12, 2)).empty());
  CHECK(PastEndOfSupport("2026-11", Utc(2026, 12, 1)));
  CHECK(!PastEndOfSupport("2026-12", Utc(2026, 12, 31, 23, 59)));
  CHECK(!PastEndOfSupport("", Utc(2099, 1, 1)));
}

TEST_CASE("Catalog drop-ins add series and releases and say where each came from",
          "[common][catalog]") {
  testing::ScratchDir dir;
  const fs::path base = dir.path() / "catalog.yaml";
  WriteText(base, std::string("series:\n  \"24.11\":\n    end_of_support: \"2026-05\"\n"
                              "    pinned: \"24.11.7\"\n    releases:\n      \"24.11.7\":\n"
                              "        sources: [{name: a.tar.gz, sha256: ") + kSha1 + "}]\n");
  WriteText(dir.path() / "d" / "10-site.yaml",
            std::string("series:\n  \"24.11\":\n    releases:\n      \"24.11.8\":\n"
                        "        sources: [{name: b.tar.gz, sha256: ") + kSha2 + "}]\n"
                        "  \"27.05\":\n    pinned: \"27.05.0\"\n    releases:\n"
                        "      \"27.05.0\": {sources: [{name: c.tar.gz, sha256: " + kSha2 + "}]}\n");
  WriteText(dir.path() / "d" / "README", "not yaml, not read");
  auto c = Catalog::Load(base, {dir.path() / "d", dir.path() / "missing"});
  REQUIRE(c.ok());
  auto added = c->Resolve("24.11.8");
  REQUIRE(added.ok());
  CHECK((*added)->origin == (dir.path() / "d" / "10-site.yaml").string() + ":4");
  CHECK((*c->Resolve("24.11"))->version == "24.11.7");  // the pin stays
  CHECK((*c->Resolve("24.11"))->origin == base.string() + ":6");
  CHECK((*c->Resolve("27.05"))->version == "27.05.0");
  REQUIRE(c->series().size() == 2);
  CHECK(c->series()[1].series == "27.05");  // sorted
}

TEST_CASE("Catalog drop-ins may not redefine a release, a source or a pin", "[common][catalog]") {
  testing::ScratchDir dir;
  const fs::path base = dir.path() / "catalog.yaml";
  WriteText(base, std::string("series:\n  \"24.11\":\n    pinned: \"24.11.7\"\n    releases:\n"
                              "      \"24.11.7\":\n        sources: [{name: a.tar.gz, sha256: ") +
                      kSha1 + "}]\n");
  const fs::path dropin = dir.path() / "d" / "site.yaml";
  auto load_with = [&](const std::string& text) {
    WriteText(dropin, text);
    return Catalog::Load(base, {dir.path() / "d"});
  };
  SECTION("a release") {
    auto c = load_with(std::string("series:\n  \"24.11\":\n    releases:\n      \"24.11.7\":\n"
                                   "        sources: [{name: z.tar.gz, sha256: ") + kSha2 + "}]\n");
    REQUIRE(!c.ok());
    CHECK(Contains(c.status().message(), dropin.string() + ":4"));
    CHECK(Contains(c.status().message(), base.string() + ":5"));
    CHECK(Contains(c.status().message(), "release 24.11.7 is already defined"));
  }
  SECTION("a source name with other bytes") {
    auto c = load_with(std::string("series:\n  \"24.11\":\n    releases:\n      \"24.11.8\":\n"
                                   "        sources: [{name: a.tar.gz, sha256: ") + kSha2 + "}]\n");
    REQUIRE(!c.ok());
    CHECK(Contains(c.status().message(), dropin.string() + ":5"));
    CHECK(Contains(c.status().message(), base.string() + ":6"));
    CHECK(Contains(c.status().message(), "source a.tar.gz is already defined"));
  }
  SECTION("the pinned release") {
    auto c = load_with(std::string("series:\n  \"24.11\":\n    pinned: \"24.11.8\"\n    releases:\n"
                                   "      \"24.11.8\": {sources: [{name: b.tar.gz, sha256: ") +
                       kSha2 + "}]}\n");
    REQUIRE(!c.ok());
    CHECK(Contains(c.status().message(), dropin.string() + ":3"));
    CHECK(Contains(c.status().message(), base.string() + ":3"));
    CHECK(Contains(c.status().message(), "already has pinned release 24.11.7"));
  }
  SECTION("a new series needs a pin, and a broken drop-in names its line") {
    auto c = load_with("series:\n  \"27.05\":\n    releases: {}\n");
    REQUIRE(!c.ok());
    CHECK(Contains(c.status().message(), "series 27.05 has no 'pinned' release"));
    auto d = load_with("series:\n  \"24.11\":\n    end_of_support: soon\n");
    REQUIRE(!d.ok());
    CHECK(Contains(d.status().message(), dropin.string() + ":3"));
  }
}

TEST_CASE("Catalog still knows the Debian orig tarball of 24.11.5", "[common][catalog]") {
  auto c = Catalog::LoadFile(kShipped);
  REQUIRE(c.ok());
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
