#include "daemon/packaging/package.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "daemon/packaging/manifest.h"
#include "tests/unit/packaging/fixtures.h"
#include "tests/unit/packaging/modules_env.h"

namespace sfactory::packaging {
namespace {

namespace fs = std::filesystem;
using testing::MustRun;
using testing::TestDir;

constexpr const char* kPrefix = "/opt/slurm/24.11";

// <dir>/tree.tar made the way a recipe makes it: `tar -cf` of software/.
fs::path MakeTreeTar(const fs::path& dir) {
  auto tree = testing::BuildSlurmLikeTree(dir / "build", kPrefix);
  testing::WriteText(tree.software / "share/sfactory/bundled-libs.tsv",
                     "# soname\tpackage\tversion\nlibgreet.so.1\tlibgreet1\t1.0-2\n");
  fs::path tar = dir / "tree.tar";
  MustRun({"tar", "-cf", tar.string(), "-C", (dir / "build").string(), "software"});
  return tar;
}

PackageRequest Request(const fs::path& dir, const fs::path& tree_tar, const std::string& tag) {
  PackageRequest r;
  r.tree_tar = tree_tar;
  r.work_dir = dir / ("work-" + tag);
  r.out_dir = dir / ("out-" + tag);
  fs::create_directories(r.work_dir);
  fs::create_directories(r.out_dir);
  r.module_templates_dir = SFACTORY_SOURCE_DIR "/templates/modules";
  r.spec.set_slurm_version("24.11.5");
  r.spec.set_recipe("native");
  r.spec.set_os("debian-12");
  r.spec.set_arch("x86_64");
  r.build_id = "b3k9x2m4q7";
  r.digest = std::string(64, 'd');
  r.install_prefix = kPrefix;
  r.source_date_epoch = 1700000000;
  v1::PhaseTiming phase;
  phase.set_name("build");
  phase.set_seconds(12.5);
  phase.set_result("ok");
  r.phases.push_back(phase);
  v1::Source source;
  source.set_name("slurm-24-11-6-1.tar.gz");
  source.set_sha256(std::string(64, 'a'));
  source.set_size(1234);
  r.sources.push_back(source);
  return r;
}

struct Log {
  std::vector<std::string> lines;
  std::function<void(absl::string_view)> fn() {
    return [this](absl::string_view l) { lines.emplace_back(l); };
  }
  bool Contains(absl::string_view words) const {
    for (const auto& l : lines) {
      if (absl::StrContains(l, words)) return true;
    }
    return false;
  }
};

TEST_CASE("Package writes the four release files and SHA256SUMS verifies them",
          "[packaging][package]") {
  TestDir dir;
  fs::path tar = MakeTreeTar(dir.path());
  auto req = Request(dir.path(), tar, "a");
  Log log;
  auto result = Package(req, log.fn());
  INFO(result.status());
  REQUIRE(result.ok());

  const std::string base = "slurm-24.11.5-native-debian-12-x86_64";
  REQUIRE(result->files.size() == 4);
  CHECK(result->files[0].path == req.out_dir / (base + "-software.tar.zst"));
  CHECK(result->files[0].kind == "software");
  CHECK(result->files[1].path == req.out_dir / (base + "-module.tar.gz"));
  CHECK(result->files[1].kind == "module");
  CHECK(result->files[2].path == req.out_dir / "manifest.json");
  CHECK(result->files[2].kind == "manifest");
  CHECK(result->files[3].path == req.out_dir / "SHA256SUMS");
  CHECK(result->files[3].kind == "checksums");
  for (const auto& f : result->files) {
    INFO(f.path);
    CHECK(f.sha256 == *Sha256File(f.path));
    CHECK(f.size == fs::file_size(f.path));
  }
  int entries = 0;
  for (auto& e : fs::directory_iterator(req.out_dir)) (void)e, ++entries;
  CHECK(entries == 4);

  auto r = RunCapture({"sha256sum", "-c", "SHA256SUMS"}, {}, req.out_dir);
  REQUIRE(r.ok());
  INFO(r->output);
  CHECK(r->exit_code == 0);
  CHECK(absl::StrContains(r->output, "manifest.json: OK"));
  CHECK(absl::StrContains(r->output, base + "-software.tar.zst: OK"));
  CHECK(absl::StrContains(r->output, base + "-module.tar.gz: OK"));

  auto manifest = ParseManifestJson(*ReadFile(req.out_dir / "manifest.json"));
  REQUIRE(manifest.ok());
  CHECK(manifest->schema_version() == 1);
  CHECK(manifest->spec().slurm_version() == "24.11.5");
  CHECK(manifest->build_id() == "b3k9x2m4q7");
  CHECK(manifest->install_prefix() == kPrefix);
  CHECK(manifest->source_date_epoch() == 1700000000);
  CHECK(manifest->audit().ok());
  CHECK(manifest->audit().elf_files() == 4);
  CHECK(manifest->relocation().removed_files_size() == 1);
  REQUIRE(manifest->artifacts_size() == 2);
  CHECK(manifest->artifacts(0).sha256() == result->files[0].sha256);
  CHECK(manifest->artifacts(1).sha256() == result->files[1].sha256);
  REQUIRE(manifest->bundled_libraries_size() == 1);
  CHECK(manifest->bundled_libraries(0).package() == "libgreet1");
  REQUIRE(manifest->phases_size() == 1);
  REQUIRE(manifest->sources_size() == 1);  // the digest of the source used
  CHECK(manifest->sources(0).name() == "slurm-24-11-6-1.tar.gz");
  CHECK(manifest->sources(0).sha256() == std::string(64, 'a'));
  CHECK(manifest->tree_sha256().size() == 64);
  CHECK(log.Contains("audit passed"));

  // The archive holds manifest.json (without artifacts) beside software/.
  fs::create_directories(dir.path() / "x");
  MustRun({"tar", "-xf", result->files[0].path.string(), "-C", (dir.path() / "x").string()});
  auto inner = ParseManifestJson(*ReadFile(dir.path() / "x/manifest.json"));
  REQUIRE(inner.ok());
  CHECK(inner->artifacts_size() == 0);
  CHECK(inner->tree_sha256() == manifest->tree_sha256());
  CHECK(*DigestTree(dir.path() / "x/software") == manifest->tree_sha256());
  MustRun({"tar", "-tzf", result->files[1].path.string()});
  auto listing = MustRun({"tar", "-tzf", result->files[1].path.string()}).output;
  CHECK(absl::StrContains(listing, "modules/slurm/24.11.5.lua"));
  CHECK(absl::StrContains(listing, "modulefiles/slurm/24.11.5"));
}

TEST_CASE("Package gives the same bytes twice, and gzip when asked", "[packaging][package]") {
  TestDir dir;
  fs::path tar = MakeTreeTar(dir.path());
  for (Compression c : {Compression::kZstd, Compression::kGzip}) {
    auto a = Request(dir.path(), tar, "a" + std::string(ArchiveSuffix(c)));
    auto b = Request(dir.path(), tar, "b" + std::string(ArchiveSuffix(c)));
    a.compression = b.compression = c;
    Log log;
    auto ra = Package(a, log.fn());
    auto rb = Package(b, log.fn());
    REQUIRE(ra.ok());
    REQUIRE(rb.ok());
    CHECK(absl::EndsWith(ra->files[0].path.string(), ArchiveSuffix(c)));
    for (size_t i = 0; i < ra->files.size(); ++i) {
      INFO(ra->files[i].path);
      CHECK(ra->files[i].sha256 == rb->files[i].sha256);
    }
  }
}

TEST_CASE("Two builds of one digest give the same software archive bytes", "[packaging][package]") {
  // Build id and timings differ between runs; only the standalone manifest
  // may record them.
  TestDir dir;
  fs::path tar = MakeTreeTar(dir.path());
  auto a = Request(dir.path(), tar, "run1");
  auto b = Request(dir.path(), tar, "run2");
  b.build_id = "bzzzzzzzzz";
  b.phases[0].set_seconds(99.0);
  Log log;
  auto ra = Package(a, log.fn());
  auto rb = Package(b, log.fn());
  REQUIRE(ra.ok());
  REQUIRE(rb.ok());
  REQUIRE(ra->files[0].kind == "software");
  CHECK(ra->files[0].sha256 == rb->files[0].sha256);
  CHECK(ra->manifest.build_id() == "b3k9x2m4q7");
  CHECK(rb->manifest.build_id() == "bzzzzzzzzz");
}

TEST_CASE("Package fails on audit findings, naming the file, and leaves no artifacts",
          "[packaging][package]") {
  TestDir dir;
  auto tree = testing::BuildSlurmLikeTree(dir.path() / "build", kPrefix);
  // libgreet is "forgotten" by the recipe: bin/hello's DT_NEEDED dangles.
  fs::remove(tree.software / "lib/libgreet.so.1.0.0");
  fs::remove(tree.software / "lib/libgreet.so.1");
  fs::remove(tree.software / "lib/libgreet.so");
  fs::path tar = dir.path() / "tree.tar";
  MustRun({"tar", "-cf", tar.string(), "-C", (dir.path() / "build").string(), "software"});
  auto req = Request(dir.path(), tar, "bad");
  Log log;
  auto result = Package(req, log.fn());
  CHECK(result.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(result.status().message(), "software/bin/hello"));
  CHECK(absl::StrContains(result.status().message(), "libgreet.so.1"));
  CHECK(log.Contains("audit: software/bin/hello: DT_NEEDED libgreet.so.1"));
  CHECK(fs::is_empty(req.out_dir));
}

TEST_CASE("Package rejects a tree.tar with entries outside software/", "[packaging][package]") {
  TestDir dir;
  testing::WriteText(dir.path() / "src/etc/passwd", "x\n");
  fs::path tar = dir.path() / "tree.tar";
  MustRun({"tar", "-cf", tar.string(), "-C", (dir.path() / "src").string(), "etc"});
  Log log;
  auto result = Package(Request(dir.path(), tar, "x"), log.fn());
  CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(result.status().message(), "outside software/"));
}

TEST_CASE("A packaged tree runs from a new prefix through its Lmod module",
          "[packaging][package][lmod]") {
  TestDir dir;
  fs::path tar = MakeTreeTar(dir.path());
  // The build tree is gone by the time the package is installed.
  auto req = Request(dir.path(), tar, "run");
  Log log;
  auto result = Package(req, log.fn());
  REQUIRE(result.ok());
  fs::remove_all(dir.path() / "build");

  const fs::path site = dir.path() / "site/apps/slurm-24.11.5";
  fs::create_directories(site);
  fs::create_directories(dir.path() / "site/modules");
  MustRun({"tar", "-xf", result->files[0].path.string(), "-C", site.string()});
  MustRun({"tar", "-xzf", result->files[1].path.string(), "-C",
           (dir.path() / "site/modules").string()});

  auto shell = testing::ModuleShell::Lmod(dir.path());
  auto r = shell.Run((dir.path() / "site/modules/modules").string(),
                     {"module load slurm/24.11.5", "hello"},
                     {"SLURM_INSTALL_PREFIX=" + (site / "software").string()});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(absl::StrContains(r.output, "hello from greet via hub"));
  CHECK(r.var("LD_LIBRARY_PATH").empty());
}

TEST_CASE("A package extracted at its recorded prefix runs without SLURM_INSTALL_PREFIX",
          "[packaging][package][lmod]") {
  TestDir dir;
  fs::path tar = MakeTreeTar(dir.path());
  auto req = Request(dir.path(), tar, "fallback");
  const fs::path prefix = dir.path() / "opt/slurm/24.11";
  req.install_prefix = prefix.string();
  Log log;
  auto result = Package(req, log.fn());
  INFO(result.status());
  REQUIRE(result.ok());
  fs::remove_all(dir.path() / "build");

  // The documented install: the software root lands exactly at the prefix.
  fs::create_directories(prefix);
  fs::create_directories(dir.path() / "mods");
  MustRun({"tar", "-xf", result->files[0].path.string(), "-C", prefix.string(),
           "--strip-components=1"});
  MustRun({"tar", "-xzf", result->files[1].path.string(), "-C", (dir.path() / "mods").string()});
  CHECK(fs::exists(prefix / "bin/hello"));

  auto shell = testing::ModuleShell::Lmod(dir.path());
  auto r = shell.Run((dir.path() / "mods/modules").string(), {"module load slurm/24.11.5", "hello"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(absl::StrContains(r.output, "hello from greet via hub"));
  CHECK(r.var("SLURM_ROOT") == prefix.string());
}

}  // namespace
}  // namespace sfactory::packaging
