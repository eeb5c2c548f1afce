#include <catch2/catch.hpp>

#include "common/catalog.h"
#include "common/fs.h"
#include "common/spec.h"

namespace sfactory {
namespace {

Catalog TestCatalog() {
  auto c = Catalog::Parse(R"(
series:
  "24.11":
    pinned: "24.11.5"
    releases:
      "24.11.5": {sources: [{name: slurm-24.11.5.tar.bz2, sha256: e1a5547edd212c38b5e3230a284133f777b32746551f094aaa81cc4af375e332}]}
      "24.11.6": {sources: [{name: slurm-24.11.6.tar.bz2, sha256: 1111111111111111111111111111111111111111111111111111111111111111}]}
)", "test");
  REQUIRE(c.ok());
  return *c;
}

v1::BuildSpec Spec(std::string version) {
  v1::BuildSpec s;
  s.set_slurm_version(std::move(version));
  return s;
}

TEST_CASE("NormalizeSpec resolves a series to its pinned release", "[common][spec]") {
  auto n = NormalizeSpec(Spec("24.11"), SpecDefaults{}, TestCatalog());
  REQUIRE(n.ok());
  CHECK(n->slurm_version() == "24.11.5");
  CHECK(n->recipe() == "native");
  CHECK(n->os() == "debian-12");
  CHECK(n->arch() == "x86_64");
}

TEST_CASE("NormalizeSpec takes a full release as is", "[common][spec]") {
  auto n = NormalizeSpec(Spec("24.11.6"), SpecDefaults{}, TestCatalog());
  REQUIRE(n.ok());
  CHECK(n->slurm_version() == "24.11.6");
}

TEST_CASE("NormalizeSpec rejects an unknown version naming the known series", "[common][spec]") {
  auto n = NormalizeSpec(Spec("19.05"), SpecDefaults{}, TestCatalog());
  REQUIRE(n.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(n.status().message().find("24.11") != absl::string_view::npos);
}

TEST_CASE("ValidateSpec rejects shell metacharacters and path tricks", "[common][spec]") {
  for (std::string bad : {"24.11;rm -rf /", "../24.11", "24.11 ", "$(id)", "24.11.5.1", ""}) {
    auto st = ValidateSpec(Spec(bad));
    CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  }
  v1::BuildSpec s = Spec("24.11");
  s.add_variants("gpu;reboot");
  CHECK(ValidateSpec(s).code() == absl::StatusCode::kInvalidArgument);
  s = Spec("24.11");
  s.set_recipe("../../etc");
  CHECK(ValidateSpec(s).code() == absl::StatusCode::kInvalidArgument);
  s = Spec("24.11");
  s.set_os("debian-12/../x");
  CHECK(ValidateSpec(s).code() == absl::StatusCode::kInvalidArgument);
  s = Spec("24.11");
  s.set_arch("sparc");
  CHECK(ValidateSpec(s).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("SpecDigest ignores variant order and duplicates", "[common][spec]") {
  v1::BuildSpec a = Spec("24.11"), b = Spec("24.11.5");
  a.add_variants("gpu");
  a.add_variants("minimal");
  b.add_variants("minimal");
  b.add_variants("gpu");
  b.add_variants("gpu");
  auto na = NormalizeSpec(a, {}, TestCatalog());
  auto nb = NormalizeSpec(b, {}, TestCatalog());
  REQUIRE(na.ok());
  REQUIRE(nb.ok());
  CHECK(CanonicalSpec(*na) == CanonicalSpec(*nb));
  CHECK(SpecDigest(*na, "r", "c") == SpecDigest(*nb, "r", "c"));
}

TEST_CASE("SpecDigest changes with the recipe digest and the release", "[common][spec]") {
  auto n = NormalizeSpec(Spec("24.11"), {}, TestCatalog());
  REQUIRE(n.ok());
  CHECK(SpecDigest(*n, "r1", "c") != SpecDigest(*n, "r2", "c"));
  CHECK(SpecDigest(*n, "r", "c1") != SpecDigest(*n, "r", "c2"));
  auto m = NormalizeSpec(Spec("24.11.6"), {}, TestCatalog());
  REQUIRE(m.ok());
  CHECK(SpecDigest(*n, "r", "c") != SpecDigest(*m, "r", "c"));
}

TEST_CASE("SeriesOf drops the patch level", "[common][spec]") {
  CHECK(SeriesOf("24.11.5") == "24.11");
  CHECK(SeriesOf("24.11") == "24.11");
}

}  // namespace
}  // namespace sfactory
