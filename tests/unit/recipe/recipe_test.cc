#include "daemon/recipe/recipe.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "tests/test_dir.h"
#include "common/sha256.h"

namespace sfactory::recipe {
namespace {

namespace fs = std::filesystem;

using Scratch = ::sfactory::testing::ScratchDir;

const std::string kSha = Sha256Hex("tarball");

void Write(const fs::path& path, const std::string& text) {
  REQUIRE(MakeDirs(path.parent_path()).ok());
  REQUIRE(WriteFileAtomic(path, text).ok());
}

// A valid recipe.yaml for a recipe called `name`; `extra` is appended.
std::string RecipeYaml(const std::string& name, const std::string& body) {
  return absl::StrCat("name: ", name, "\n", body);
}

const char* kGoodBody = R"(description: a test recipe
variants: [fast, debug-info]
packages: [build-essential, libfoo1.2+dev]
source:
  name: t-1.0.tar.gz
  sha256: SHA
  top_dir: t-1.0
phases:
  - name: unpack
    script: unpack.sh
  - name: compile
    script: compile.sh
package: slurm
verify:
  - name: run
    script: verify.sh
)";

std::string GoodBody() {
  std::string body = kGoodBody;
  body.replace(body.find("SHA"), 3, kSha);
  return body;
}

// Writes <parent>/<name>/ with recipe.yaml (`body` after the name line) and
// the three scripts kGoodBody uses.
fs::path WriteRecipe(const fs::path& parent, const std::string& name,
                     const std::string& body = GoodBody()) {
  fs::path dir = parent / name;
  Write(dir / "recipe.yaml", RecipeYaml(name, body));
  Write(dir / "unpack.sh", "echo unpack {{ version }} for {{build_id}}\n");
  Write(dir / "compile.sh", "make -j\"$SF_JOBS\" # {{ series }} {{ arch }} {{ os }}\n");
  Write(dir / "verify.sh", "echo {{ recipe }} {{ variants }}\n");
  return dir;
}

absl::Status LoadError(const fs::path& dir) {
  auto r = LoadRecipe(dir);
  if (r.ok()) return absl::OkStatus();
  return r.status();
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

TEST_CASE("LoadRecipe loads a valid recipe", "[recipe]") {
  Scratch tmp;
  fs::path dir = WriteRecipe(tmp.path(), "t");
  auto r = LoadRecipe(dir);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->name == "t");
  CHECK(r->description == "a test recipe");
  CHECK(r->variants == std::vector<std::string>{"fast", "debug-info"});
  CHECK(r->packages == std::vector<std::string>{"build-essential", "libfoo1.2+dev"});
  REQUIRE(r->fixed_source.has_value());
  CHECK(r->fixed_source->name == "t-1.0.tar.gz");
  CHECK(r->fixed_source->sha256 == kSha);
  CHECK(r->fixed_source->top_dir == "t-1.0");
  REQUIRE(r->phases.size() == 2);
  CHECK(r->phases[0].name == "unpack");
  // Scripts stay templates; they are rendered per build.
  CHECK(r->phases[0].script == "echo unpack {{ version }} for {{build_id}}\n");
  CHECK(r->phases[1].name == "compile");
  REQUIRE(r->verify.size() == 1);
  CHECK(r->verify[0].name == "run");
  CHECK(r->package_name == "slurm");
  CHECK(r->artifacts.empty());
  CHECK(r->dir == dir);
  CHECK(IsSha256Hex(r->digest));
}

TEST_CASE("LoadRecipe accepts source slurm and an artifacts list", "[recipe]") {
  Scratch tmp;
  fs::path dir = tmp.path() / "plain";
  Write(dir / "recipe.yaml",
        "name: plain\nsource: slurm\nphases: [{name: build, script: b.sh}]\n"
        "artifacts: [out.tar.gz, notes.txt]\n");
  Write(dir / "b.sh", "true\n");
  auto r = LoadRecipe(dir);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(!r->fixed_source.has_value());
  CHECK(r->package_name.empty());
  CHECK(r->artifacts == std::vector<std::string>{"out.tar.gz", "notes.txt"});
  CHECK(r->verify.empty());
}

TEST_CASE("LoadRecipe requires the name to equal the directory name", "[recipe]") {
  Scratch tmp;
  fs::path dir = WriteRecipe(tmp.path(), "t");
  fs::rename(dir, tmp.path() / "other");
  absl::Status s = LoadError(tmp.path() / "other");
  REQUIRE(!s.ok());
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(s.message(), "recipe.yaml:1"));
  CHECK(absl::StrContains(s.message(), "must equal the directory name 'other'"));
}

TEST_CASE("LoadRecipe of a directory without recipe.yaml is NotFound", "[recipe]") {
  Scratch tmp;
  CHECK(LoadError(tmp.path()).code() == absl::StatusCode::kNotFound);
}

TEST_CASE("LoadRecipe rejects a phase whose script file is missing", "[recipe]") {
  Scratch tmp;
  fs::path dir = WriteRecipe(tmp.path(), "t");
  fs::remove(dir / "compile.sh");
  absl::Status s = LoadError(dir);
  REQUIRE(!s.ok());
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(s.message(), "recipe.yaml:"));
  CHECK(absl::StrContains(s.message(), "compile.sh"));
}

TEST_CASE("LoadRecipe rejects an unknown placeholder naming the script", "[recipe]") {
  Scratch tmp;
  fs::path dir = WriteRecipe(tmp.path(), "t");
  Write(dir / "compile.sh", "echo fine {{ version }}\necho {{ colour }}\n");
  absl::Status s = LoadError(dir);
  REQUIRE(!s.ok());
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(s.message(), (dir / "compile.sh").string()));
  CHECK(absl::StrContains(s.message(), "colour"));

  SECTION("in a verify script too") {
    Write(dir / "compile.sh", "true\n");
    Write(dir / "verify.sh", "echo {{ nope }}\n");
    absl::Status v = LoadError(dir);
    REQUIRE(!v.ok());
    CHECK(absl::StrContains(v.message(), "verify.sh"));
    CHECK(absl::StrContains(v.message(), "nope"));
  }
  SECTION("an unclosed placeholder") {
    Write(dir / "compile.sh", "echo {{ version\n");
    absl::Status v = LoadError(dir);
    REQUIRE(!v.ok());
    CHECK(absl::StrContains(v.message(), "compile.sh"));
    CHECK(absl::StrContains(v.message(), "unclosed"));
  }
}

TEST_CASE("LoadRecipe rejects bad phase names and script paths", "[recipe]") {
  Scratch tmp;
  for (const char* bad : {"Build", "1st", "has space", "under_score", "\"\"",
                          "abcdefghijabcdefghijabcdefghijabc" /* 33 chars */}) {
    INFO(bad);
    WriteRecipe(tmp.path(), "t", Replace(GoodBody(), "name: compile", absl::StrCat("name: ", bad)));
    absl::Status s = LoadError(tmp.path() / "t");
    REQUIRE(!s.ok());
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "bad phase name"));
  }
  for (const char* bad : {"../outside.sh", "/bin/true", "sub/dir.sh", ".hidden"}) {
    INFO(bad);
    WriteRecipe(tmp.path(), "t",
                Replace(GoodBody(), "script: compile.sh", absl::StrCat("script: ", bad)));
    absl::Status s = LoadError(tmp.path() / "t");
    REQUIRE(!s.ok());
    CHECK(absl::StrContains(s.message(), "script must be a file name"));
  }
  WriteRecipe(tmp.path(), "t", Replace(GoodBody(), "    script: compile.sh\n", ""));
  CHECK(absl::StrContains(LoadError(tmp.path() / "t").message(), "needs 'name' and 'script'"));
  WriteRecipe(tmp.path(), "t",
              Replace(GoodBody(), "script: compile.sh", "script: compile.sh\n    timout: 5"));
  CHECK(absl::StrContains(LoadError(tmp.path() / "t").message(), "unknown key 'timout'"));
}

TEST_CASE("LoadRecipe reads a phase's timeout and rejects bad ones", "[recipe]") {
  Scratch tmp;
  WriteRecipe(tmp.path(), "t",
              Replace(GoodBody(), "script: compile.sh", "script: compile.sh\n    timeout: 1h30m"));
  auto r = LoadRecipe(tmp.path() / "t");
  REQUIRE(r.ok());
  bool found = false;
  for (const auto& p : r->phases) {
    if (p.script.empty()) continue;
    if (p.timeout != absl::InfiniteDuration()) {
      CHECK(p.timeout == absl::Minutes(90));
      found = true;
    }
  }
  CHECK(found);
  WriteRecipe(tmp.path(), "t",
              Replace(GoodBody(), "script: compile.sh", "script: compile.sh\n    timeout: 45"));
  r = LoadRecipe(tmp.path() / "t");
  REQUIRE(r.ok());
  for (const char* bad : {"soon", "-5m", "0"}) {
    INFO(bad);
    WriteRecipe(tmp.path(), "t",
                Replace(GoodBody(), "script: compile.sh",
                        absl::StrCat("script: compile.sh\n    timeout: \"", bad, "\"")));
    absl::Status s = LoadError(tmp.path() / "t");
    CHECK(absl::StrContains(s.message(), "timeout"));
    CHECK(absl::StrContains(s.message(), "recipe.yaml:"));
  }
}

TEST_CASE("LoadRecipe reads debug_files globs and rejects ones that leave the work dir",
          "[recipe]") {
  Scratch tmp;
  WriteRecipe(tmp.path(), "t",
              GoodBody() + "debug_files: [\"**/config.log\", configure.out, \"src/*.h\"]\n");
  auto r = LoadRecipe(tmp.path() / "t");
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->debug_files == std::vector<std::string>{"**/config.log", "configure.out", "src/*.h"});

  WriteRecipe(tmp.path(), "t");
  REQUIRE(LoadRecipe(tmp.path() / "t").ok());
  CHECK(LoadRecipe(tmp.path() / "t")->debug_files.empty());

  for (const char* bad : {"../outside", "/etc/passwd", "a/../../b", "has space", "$(id)",
                          "a;b", "\"`x`\""}) {
    INFO(bad);
    WriteRecipe(tmp.path(), "t", absl::StrCat(GoodBody(), "debug_files: [", bad, "]\n"));
    absl::Status s = LoadError(tmp.path() / "t");
    REQUIRE(!s.ok());
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "bad debug_files entry"));
  }
}

TEST_CASE("LoadRecipe needs exactly one of package and artifacts", "[recipe]") {
  Scratch tmp;
  WriteRecipe(tmp.path(), "t",
              Replace(GoodBody(), "package: slurm", "package: slurm\nartifacts: [a]"));
  absl::Status both = LoadError(tmp.path() / "t");
  CHECK(both.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(both.message(), "exactly one of 'package' and 'artifacts'"));

  WriteRecipe(tmp.path(), "t", Replace(GoodBody(), "package: slurm\n", ""));
  absl::Status neither = LoadError(tmp.path() / "t");
  CHECK(neither.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(neither.message(), "exactly one of 'package' and 'artifacts'"));

  WriteRecipe(tmp.path(), "t", Replace(GoodBody(), "package: slurm", "package: Slurm"));
  CHECK(absl::StrContains(LoadError(tmp.path() / "t").message(), "lower-case"));
}

TEST_CASE("LoadRecipe requires a valid sha256 for a fixed source", "[recipe]") {
  Scratch tmp;
  WriteRecipe(tmp.path(), "t", Replace(GoodBody(), absl::StrCat("  sha256: ", kSha, "\n"), ""));
  absl::Status missing = LoadError(tmp.path() / "t");
  CHECK(missing.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(missing.message(), "needs 'name' and 'sha256'"));

  WriteRecipe(tmp.path(), "t", Replace(GoodBody(), kSha, "ABCDEF"));
  absl::Status bad = LoadError(tmp.path() / "t");
  CHECK(bad.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(bad.message(), "bad sha256"));

  WriteRecipe(tmp.path(), "t",
              Replace(GoodBody(), "source:\n  name: t-1.0.tar.gz",
                      "source:\n  name: t-1.0.tar.gz\n  url: x"));
  CHECK(absl::StrContains(LoadError(tmp.path() / "t").message(), "unknown key 'url'"));
}

TEST_CASE("LoadRecipe rejects unknown keys, a missing source and no phases", "[recipe]") {
  Scratch tmp;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {GoodBody() + "colour: red\n", "unknown key 'colour'"},
      {Replace(GoodBody(), "source:\n", "origin:\n"), "unknown key 'origin'"},
      {"source: slurm\npackage: slurm\nphases: []\n", "at least one phase"},
      {"package: slurm\nphases: [{name: a, script: unpack.sh}]\n", "needs 'source'"},
      {"source: git\npackage: slurm\nphases: [{name: a, script: unpack.sh}]\n",
       "source must be 'slurm'"},
      {Replace(GoodBody(), "variants: [fast, debug-info]", "variants: [Fast]"),
       "bad variants entry"},
      {Replace(GoodBody(), "variants: [fast, debug-info]", "variants: fast"), "must be a list"},
  };
  for (const auto& [body, why] : cases) {
    INFO(body);
    WriteRecipe(tmp.path(), "t", body);
    absl::Status s = LoadError(tmp.path() / "t");
    REQUIRE(!s.ok());
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), why));
  }
}

TEST_CASE("Recipe digest changes when any file of the directory changes and not otherwise",
          "[recipe]") {
  Scratch tmp;
  fs::path dir = WriteRecipe(tmp.path(), "t");
  auto digest = [&]() {
    auto r = LoadRecipe(dir);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    return r->digest;
  };
  const std::string original = digest();
  CHECK(digest() == original);

  // Rewriting the same bytes (a new mtime and inode) changes nothing.
  Write(dir / "compile.sh", *ReadFile(dir / "compile.sh"));
  CHECK(digest() == original);

  // The same recipe elsewhere has the same digest.
  fs::path other = WriteRecipe(tmp.path() / "elsewhere", "t");
  auto moved = LoadRecipe(other);
  REQUIRE(moved.ok());
  CHECK(moved->digest == original);

  const std::string script = *ReadFile(dir / "compile.sh");
  Write(dir / "compile.sh", script + "# one more comment\n");
  CHECK(digest() != original);
  Write(dir / "compile.sh", script);
  CHECK(digest() == original);

  Write(dir / "README", "notes\n");  // a file no phase names
  CHECK(digest() != original);
  fs::remove(dir / "README");
  CHECK(digest() == original);

  Write(dir / "patches" / "fix.patch", "--- a\n+++ b\n");  // in a subdirectory
  CHECK(digest() != original);
  fs::remove_all(dir / "patches");
  CHECK(digest() == original);

  // Same content under another name.
  Write(dir / "extra-a", "x");
  const std::string with_a = digest();
  fs::rename(dir / "extra-a", dir / "extra-b");
  CHECK(digest() != with_a);
}

TEST_CASE("RecipeSet lets a later directory override an earlier one and skips missing dirs",
          "[recipe]") {
  Scratch tmp;
  const fs::path a = tmp.path() / "a", b = tmp.path() / "b";
  WriteRecipe(a, "x");
  WriteRecipe(a, "y");
  WriteRecipe(b, "y", Replace(GoodBody(), "a test recipe", "the override"));
  REQUIRE(MakeDirs(b / "not-a-recipe").ok());  // no recipe.yaml: ignored
  Write(b / "stray-file", "ignored");

  auto set = RecipeSet::Load({a, tmp.path() / "missing", b});
  INFO(set.status().ToString());
  REQUIRE(set.ok());
  REQUIRE(set->Find("x") != nullptr);
  CHECK(set->Find("x")->dir == a / "x");
  REQUIRE(set->Find("y") != nullptr);
  CHECK(set->Find("y")->description == "the override");
  CHECK(set->Find("y")->dir == b / "y");
  CHECK(set->Find("z") == nullptr);
  CHECK(set->Find("not-a-recipe") == nullptr);
  REQUIRE(set->All().size() == 2);
  CHECK(set->All()[0]->name == "x");
  CHECK(set->All()[1]->name == "y");

  auto reversed = RecipeSet::Load({b, a});
  REQUIRE(reversed.ok());
  CHECK(reversed->Find("y")->description == "a test recipe");

  auto none = RecipeSet::Load({tmp.path() / "missing"});
  REQUIRE(none.ok());
  CHECK(none->All().empty());
}

TEST_CASE("RecipeSet fails on a broken recipe", "[recipe]") {
  Scratch tmp;
  WriteRecipe(tmp.path(), "good");
  fs::path bad = WriteRecipe(tmp.path(), "bad");
  fs::remove(bad / "unpack.sh");
  auto set = RecipeSet::Load({tmp.path()});
  REQUIRE(!set.ok());
  CHECK(absl::StrContains(set.status().message(), (bad / "recipe.yaml").string()));
}

TEST_CASE("Render replaces every placeholder", "[recipe]") {
  std::map<std::string, std::string> vars = {{"version", "24.11.5"}, {"series", "24.11"}};
  auto out = Render("v={{version}} s={{ series }} again={{  version  }}.", vars, "x.sh");
  REQUIRE(out.ok());
  CHECK(*out == "v=24.11.5 s=24.11 again=24.11.5.");
  CHECK(*Render("no placeholders, ${BASH} {single} }}", vars, "x.sh") ==
        "no placeholders, ${BASH} {single} }}");
  CHECK(*Render("", vars, "x.sh") == "");
  // Values are not expanded again.
  CHECK(*Render("{{ version }}", {{"version", "{{ series }}"}}, "x.sh") == "{{ series }}");
}

TEST_CASE("Render rejects unknown and unclosed placeholders naming the template", "[recipe]") {
  std::map<std::string, std::string> vars = {{"version", "1"}};
  auto unknown = Render("{{ version }} {{ colour }}", vars, "build.sh");
  REQUIRE(!unknown.ok());
  CHECK(unknown.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(unknown.status().message(), "build.sh"));
  CHECK(absl::StrContains(unknown.status().message(), "unknown placeholder '{{ colour }}'"));

  auto unclosed = Render("{{ version }} {{ version", vars, "build.sh");
  REQUIRE(!unclosed.ok());
  CHECK(unclosed.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(unclosed.status().message(), "build.sh"));
  CHECK(absl::StrContains(unclosed.status().message(), "unclosed"));
}

TEST_CASE("KnownPlaceholders are the build variables", "[recipe]") {
  CHECK(KnownPlaceholders() == std::vector<std::string>{"version", "series", "recipe", "os", "arch",
                                                        "variants", "build_id"});
}

// The shipped recipes are still being written; these check what the daemon
// and the integration tests rely on, not every detail.
TEST_CASE("The shipped native recipe loads", "[recipe][shipped]") {
  auto r = LoadRecipe(SFACTORY_SOURCE_DIR "/templates/recipes/native");
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->name == "native");
  CHECK(!r->fixed_source.has_value());  // builds the catalog's Slurm release
  CHECK(r->package_name == "slurm");
  CHECK(!r->phases.empty());
  CHECK(!r->verify.empty());

  auto set = RecipeSet::Load({SFACTORY_SOURCE_DIR "/templates/recipes"});
  INFO(set.status().ToString());
  REQUIRE(set.ok());
  CHECK(set->Find("native") != nullptr);
}

TEST_CASE("The hello test recipe loads and names the fixture tarball", "[recipe][shipped]") {
  auto r = LoadRecipe(SFACTORY_SOURCE_DIR "/tests/recipes/hello");
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->name == "hello");
  CHECK(r->package_name == "slurm");
  REQUIRE(r->fixed_source.has_value());
  CHECK(r->fixed_source->name == "hello-1.0.tar.gz");
  CHECK(r->fixed_source->top_dir == "hello-1.0");
  auto sha = Sha256File(SFACTORY_SOURCE_DIR "/tests/fixtures/hello-1.0.tar.gz");
  REQUIRE(sha.ok());
  CHECK(r->fixed_source->sha256 == *sha);
  // The integration tests cancel with "slow" and fail with "fail".
  auto has = [&](const std::string& v) {
    return std::find(r->variants.begin(), r->variants.end(), v) != r->variants.end();
  };
  CHECK(has("slow"));
  CHECK(has("fail"));
  CHECK(!r->phases.empty());
  CHECK(!r->verify.empty());
}

}  // namespace
}  // namespace sfactory::recipe
