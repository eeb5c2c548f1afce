#include "daemon/runner/runner.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/fs.h"
#include "tests/test_dir.h"
#include "common/sha256.h"
#include "daemon/packaging/archive.h"
#include "daemon/provider/local_provider.h"

namespace sfactory::runner {
namespace {

namespace fs = std::filesystem;

using Scratch = ::sfactory::testing::ScratchDir;

const std::string kSourceBytes = "source bytes";

using ::sfactory::testing::CountEntries;

// Everything a Runner needs, on the local provider in a temp dir, with a
// fake packager that records its input.
struct Fixture {
  Fixture() {
    auto s = store::Store::Open(tmp.path() / "state.db");
    REQUIRE(s.ok());
    store = std::move(*s);
    sources = std::make_unique<cache::SourceCache>(tmp.path() / "sources", store.get(), &catalog);
    REQUIRE(sources->Init().ok());
    bool sent = false;
    auto added = sources->Add("t-1.0.tar.gz", "", [&](std::string* chunk) -> absl::StatusOr<bool> {
      if (sent) return false;
      *chunk = kSourceBytes;
      return sent = true;
    });
    REQUIRE(added.ok());
    auto p = provider::MakeLocalProvider(instances());
    REQUIRE(p.ok());
    provider = std::move(*p);
    artifacts = std::make_unique<artifacts::ArtifactStore>(tmp.path() / "artifacts");
    REQUIRE(artifacts->Init().ok());
    auto l = BuildLog::Open(tmp.path() / "b1.log");
    REQUIRE(l.ok());
    log = *l;
    REQUIRE(MakeDirs(seen()).ok());
  }

  fs::path instances() const { return tmp.path() / "instances"; }
  fs::path work_root() const { return tmp.path() / "work"; }
  // Where test scripts leave what they saw.
  fs::path seen() const { return tmp.path() / "seen"; }

  // Writes recipes/t with `body` after "name: t" and the given scripts;
  // "@SEEN@" in a script becomes seen().
  void WriteRecipe(const std::string& body, const std::map<std::string, std::string>& scripts) {
    const fs::path dir = tmp.path() / "recipes" / "t";
    REQUIRE(MakeDirs(dir).ok());
    REQUIRE(WriteFileAtomic(dir / "recipe.yaml", absl::StrCat("name: t\n", body)).ok());
    for (const auto& [file, text] : scripts) {
      REQUIRE(WriteFileAtomic(dir / file, absl::StrReplaceAll(text, {{"@SEEN@", seen().string()}}))
                  .ok());
    }
    auto r = recipe::LoadRecipe(dir);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    recipe = std::make_unique<recipe::Recipe>(std::move(*r));
  }

  std::string SourceYaml() const {
    return absl::StrCat("source: {name: t-1.0.tar.gz, sha256: ", Sha256Hex(kSourceBytes),
                        ", top_dir: t-1.0}\n");
  }

  RunnerDeps Deps() {
    RunnerDeps d;
    d.provider = provider.get();
    d.sources = sources.get();
    d.artifacts = artifacts.get();
    d.package = [this](const PackageInput& in,
                       const LogFn& log_line) -> absl::StatusOr<std::vector<PackageOutput>> {
      ++package_calls;
      package_input = in;
      auto tree = ReadFile(in.tree_tar);
      if (!tree.ok()) return tree.status();
      tree_seen = *tree;
      log_line("fake packager ran");
      const fs::path software = in.out_dir / "t-24.11.5-software.tar.zst";
      const fs::path module = in.out_dir / "t-24.11.5-module.tar.gz";
      if (absl::Status s = WriteFileAtomic(software, "software:" + *tree); !s.ok()) return s;
      if (absl::Status s = WriteFileAtomic(module, "module:" + in.build_id); !s.ok()) return s;
      return std::vector<PackageOutput>{{software, "software"}, {module, "module"}};
    };
    d.work_root = work_root();
    d.ccache_dir = tmp.path() / "ccache";
    d.build_jobs = 3;
    d.allow_downloads = false;
    d.write_bundle = write_bundle;
    d.effective_config = "state_dir: /x    # default\n";
    return d;
  }

  RunOutcome Run(bool verify = false, bool keep = false) {
    provider::CancelToken cancel;
    return Run(cancel, verify, keep);
  }
  RunOutcome Run(provider::CancelToken& cancel, bool verify = false, bool keep = false) {
    v1::Build b;
    b.set_id("b1");
    b.set_digest("d1g35t");
    b.set_verify(verify);
    b.set_attempt(1);
    b.mutable_spec()->set_slurm_version("24.11.5");
    b.mutable_spec()->set_recipe("t");
    b.mutable_spec()->set_os("debian-12");
    b.mutable_spec()->set_arch("x86_64");
    b.mutable_spec()->add_variants("fast");
    RunRequest req{b, recipe.get(), nullptr, keep};
    req.debug_dir = debug_dir;
    req.debug_bundle = debug_bundle;
    Runner runner(Deps());
    return runner.Run(req, *log, cancel, [this](const StepUpdate& step) {
      started.push_back(step.name);
      planned = step.planned;
      done_before.push_back(step.done.size());
    });
  }

  std::string LogText() const { return *ReadFile(log->path()); }

  Scratch tmp;
  std::unique_ptr<store::Store> store;
  Catalog catalog;
  std::unique_ptr<cache::SourceCache> sources;
  std::unique_ptr<provider::Provider> provider;
  std::unique_ptr<artifacts::ArtifactStore> artifacts;
  std::shared_ptr<BuildLog> log;
  std::unique_ptr<recipe::Recipe> recipe;

  int package_calls = 0;
  PackageInput package_input;
  std::string tree_seen;
  std::vector<std::string> started;
  std::vector<std::string> planned;   // the plan the last step start reported
  std::vector<size_t> done_before;    // finished steps reported at each start
  // Set by the debug bundle tests; empty keeps nothing.
  fs::path debug_dir;
  fs::path debug_bundle;
  BundleFn write_bundle;
};

const char* kOneSh =
    "echo \"one {{ version }} {{ series }} {{ build_id }} {{ variants }}\"\n"
    "echo \"jobs=$SF_JOBS topdir=$SF_SOURCE_TOPDIR prefix=$SF_PREFIX\"\n"
    "cp \"$SF_SOURCE_FILE\" \"$SF_WORK/src.copy\"\n";
const char* kTwoSh = "cp \"$SF_WORK/src.copy\" \"$SF_OUT/tree.tar\"\n";

std::string Phases(const std::string& extra = "") {
  return absl::StrCat("phases:\n  - {name: one, script: one.sh}\n  - {name: two, script: two.sh}\n",
                      extra);
}

TEST_CASE("Runner runs every phase and stores the packager's artifacts", "[build][runner]") {
  Fixture f;
  f.WriteRecipe(f.SourceYaml() + Phases() + "package: t\n",
                {{"one.sh", kOneSh}, {"two.sh", kTwoSh}});
  RunOutcome out = f.Run();
  INFO(f.LogText());
  CHECK(out.state == v1::BUILD_STATE_SUCCEEDED);
  CHECK(out.error.empty());

  // The phases saw rendered templates, the SF_* environment and the source.
  const std::string text = f.LogText();
  CHECK(absl::StrContains(text, "one 24.11.5 24.11 b1 fast"));
  CHECK(absl::StrContains(text, "jobs=3 topdir=t-1.0 prefix=/opt/slurm/24.11"));
  CHECK(f.tree_seen == kSourceBytes);

  REQUIRE(f.package_calls == 1);
  CHECK(f.package_input.package_name == "t");
  CHECK(f.package_input.build_id == "b1");
  CHECK(f.package_input.digest == "d1g35t");
  CHECK(f.package_input.install_prefix == "/opt/slurm/24.11");
  CHECK(f.package_input.spec.slurm_version() == "24.11.5");
  CHECK(absl::StrContains(text, "fake packager ran"));

  REQUIRE(out.artifacts.size() == 2);
  CHECK(out.artifacts[0].name() == "t-24.11.5-software.tar.zst");
  CHECK(out.artifacts[0].kind() == "software");
  CHECK(out.artifacts[1].name() == "t-24.11.5-module.tar.gz");
  CHECK(out.artifacts[1].kind() == "module");
  CHECK(*ReadFile(f.artifacts->PathOf(out.artifacts[0].sha256())) == "software:" + kSourceBytes);
  CHECK(*ReadFile(f.artifacts->PathOf(out.artifacts[1].sha256())) == "module:b1");

  std::vector<std::string> steps = {"sources", "instance", "one",  "two",
                                    "collect", "package",  "store"};
  CHECK(f.started == steps);
  REQUIRE(out.phases.size() == steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    CHECK(out.phases[i].name() == steps[i]);
    CHECK(out.phases[i].result() == "ok");
  }
  // Nothing is left behind on the host.
  CHECK(CountEntries(f.instances()) == 0);
  CHECK(!fs::exists(f.work_root() / "b1"));
  CHECK(absl::StrContains(text, "==> build b1 succeeded"));
}

TEST_CASE("Runner writes a numbered header for every step to the log", "[build][runner]") {
  Fixture f;
  f.WriteRecipe(
      f.SourceYaml() + Phases() + "package: t\nverify: [{name: check, script: check.sh}]\n",
      {{"one.sh", kOneSh}, {"two.sh", kTwoSh}, {"check.sh", "true\n"}});
  RunOutcome out = f.Run(/*verify=*/true);
  const std::string text = f.LogText();
  INFO(text);
  REQUIRE(out.state == v1::BUILD_STATE_SUCCEEDED);
  const std::vector<std::string> all = {"sources", "instance",        "one",   "two",  "collect",
                                        "package", "verify-instance", "check", "store"};
  size_t last = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    const std::string header =
        absl::StrCat("==> [", i + 1, "/", all.size(), "] ", all[i], " (started ");
    INFO(header);
    size_t at = text.find(header);
    REQUIRE(at != std::string::npos);
    CHECK(at >= last);  // in order
    last = at;
    CHECK(absl::StrContains(text, absl::StrCat("==> ", all[i], ": ok (")));
  }
  CHECK(f.started == all);
  // Every step start announces the whole plan and the steps finished so far.
  CHECK(f.planned == all);
  std::vector<size_t> counts(all.size());
  for (size_t i = 0; i < counts.size(); ++i) counts[i] = i;
  CHECK(f.done_before == counts);
}

TEST_CASE("Runner gives verify phases the software and module tarballs", "[build][runner]") {
  Fixture f;
  f.WriteRecipe(
      f.SourceYaml() + Phases() + "package: t\nverify: [{name: check, script: check.sh}]\n",
      {{"one.sh", kOneSh},
       {"two.sh", kTwoSh},
       {"check.sh",
        "test -f \"$SF_SOFTWARE_TARBALL\"\n"
        "cp \"$SF_SOFTWARE_TARBALL\" @SEEN@/software\n"
        "cp \"$SF_MODULE_TARBALL\" @SEEN@/module\n"
        "echo \"$SF_SOFTWARE_TARBALL\" > @SEEN@/path\n"
        "echo \"[$SF_SOURCES][$SF_ARTIFACTS_DIR]\" > @SEEN@/dirs\n"}});
  RunOutcome out = f.Run(/*verify=*/true);
  INFO(f.LogText());
  REQUIRE(out.state == v1::BUILD_STATE_SUCCEEDED);
  CHECK(*ReadFile(f.seen() / "software") == "software:" + kSourceBytes);
  CHECK(*ReadFile(f.seen() / "module") == "module:b1");
  const std::string verify_work = (f.instances() / "b1-verify" / "work").string();
  CHECK(*ReadFile(f.seen() / "path") == verify_work + "/artifacts/t-24.11.5-software.tar.zst\n");
  // A verify instance gets no source cache.
  CHECK(*ReadFile(f.seen() / "dirs") == absl::StrCat("[][", verify_work, "/artifacts]\n"));
  CHECK(out.artifacts.size() == 2);
  CHECK(CountEntries(f.instances()) == 0);
}

// docs/RECIPES.md lists these; a script can rely on each being set.
TEST_CASE("Build and verify phases get every documented SF_ variable", "[build][runner]") {
  Fixture f;
  const std::string check_build =
      "for v in SF_BUILD_ID SF_VERSION SF_SERIES SF_RECIPE SF_VARIANTS SF_JOBS SF_SOURCES "
      "SF_SOURCE_FILE SF_SOURCE_TOPDIR SF_CCACHE_DIR SF_WORK SF_OUT SF_PREFIX; do\n"
      "  [ -n \"${!v}\" ] || { echo \"missing $v\"; exit 9; }\n"
      "done\n"
      "test -f \"$SF_SOURCE_FILE\" && test -d \"$SF_WORK\" && test -d \"$SF_OUT\"\n"
      "echo \"$SF_BUILD_ID $SF_VERSION $SF_SERIES $SF_RECIPE $SF_VARIANTS\" > @SEEN@/build-env\n";
  const std::string check_verify =
      "for v in SF_VERSION SF_SERIES SF_BUILD_ID SF_WORK SF_SOFTWARE_TARBALL SF_MODULE_TARBALL; "
      "do\n"
      "  [ -n \"${!v}\" ] || { echo \"missing $v\"; exit 9; }\n"
      "done\n"
      "touch @SEEN@/verify-env\n";
  f.WriteRecipe(
      f.SourceYaml() + Phases() + "package: t\nverify: [{name: check, script: check.sh}]\n",
      {{"one.sh", std::string(kOneSh) + check_build},
       {"two.sh", kTwoSh},
       {"check.sh", check_verify}});
  RunOutcome out = f.Run(/*verify=*/true);
  INFO(f.LogText());
  CHECK(out.state == v1::BUILD_STATE_SUCCEEDED);
  CHECK(*ReadFile(f.seen() / "build-env") == "b1 24.11.5 24.11 t fast\n");
  CHECK(fs::exists(f.seen() / "verify-env"));
}

TEST_CASE("A failing phase fails the build naming the phase and runs no later step",
          "[build][runner]") {
  Fixture f;
  f.WriteRecipe(f.SourceYaml() + Phases("  - {name: three, script: three.sh}\n") + "package: t\n",
                {{"one.sh", kOneSh},
                 {"two.sh", "echo boom >&2\nexit 4\n"},
                 {"three.sh", "touch @SEEN@/three-ran\n"}});
  RunOutcome out = f.Run();
  const std::string text = f.LogText();
  INFO(text);
  CHECK(out.state == v1::BUILD_STATE_FAILED);
  CHECK(absl::StrContains(out.error, "phase two exited with code 4"));
  CHECK(!fs::exists(f.seen() / "three-ran"));
  CHECK(f.package_calls == 0);
  CHECK(out.artifacts.empty());
  CHECK(f.started == std::vector<std::string>{"sources", "instance", "one", "two"});
  REQUIRE(!out.phases.empty());
  CHECK(out.phases.back().name() == "two");
  CHECK(out.phases.back().result() == "failed");
  CHECK(absl::StrContains(text, "boom"));
  CHECK(absl::StrContains(text, "error: phase two exited with code 4"));
  CHECK(absl::StrContains(text, "==> build b1 failed: "));
  CHECK(CountEntries(f.instances()) == 0);  // not kept by default
  CHECK(CountEntries(f.tmp.path() / "artifacts" / "sha256") == 0);
}

TEST_CASE("keep_instance_on_failure keeps the build instance", "[build][runner]") {
  Fixture f;
  f.WriteRecipe(f.SourceYaml() + Phases() + "package: t\n",
                {{"one.sh", kOneSh}, {"two.sh", "echo left-for-debugging > x\nexit 1\n"}});
  RunOutcome out = f.Run(/*verify=*/false, /*keep=*/true);
  INFO(f.LogText());
  CHECK(out.state == v1::BUILD_STATE_FAILED);
  CHECK(fs::exists(f.instances() / "b1" / "work" / "src.copy"));
  CHECK(*ReadFile(f.instances() / "b1" / "work" / "x") == "left-for-debugging\n");
  CHECK(absl::StrContains(f.LogText(), "keeping instance b1"));

  SECTION("but not when the build succeeds") {
    f.WriteRecipe(f.SourceYaml() + Phases() + "package: t\n",
                  {{"one.sh", kOneSh}, {"two.sh", kTwoSh}});
    RunOutcome ok = f.Run(/*verify=*/false, /*keep=*/true);
    CHECK(ok.state == v1::BUILD_STATE_SUCCEEDED);
    CHECK(!fs::exists(f.instances() / "b1"));
  }
}

TEST_CASE("Cancelling during a phase ends the build CANCELLED", "[build][runner]") {
  Fixture f;
  f.WriteRecipe(
      f.SourceYaml() + Phases() + "package: t\n",
      {{"one.sh", "echo phase-one-running\nsleep 30\n"}, {"two.sh", "touch @SEEN@/two-ran\n"}});
  provider::CancelToken cancel;
  std::thread canceller([&] {
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      if (absl::StrContains(*ReadLogChunk(f.log->path(), 0, 1 << 20), "phase-one-running")) {
        cancel.Cancel();
        return;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  });
  absl::Time start = absl::Now();
  RunOutcome out = f.Run(cancel);
  canceller.join();
  INFO(f.LogText());
  CHECK(out.state == v1::BUILD_STATE_CANCELLED);
  CHECK(absl::Now() - start < absl::Seconds(5));
  CHECK(!fs::exists(f.seen() / "two-ran"));
  CHECK(f.package_calls == 0);
  REQUIRE(!out.phases.empty());
  CHECK(out.phases.back().name() == "one");
  CHECK(out.phases.back().result() == "cancelled");
  CHECK(absl::StrContains(f.LogText(), "==> build b1 cancelled"));
  CHECK(CountEntries(f.instances()) == 0);
}

TEST_CASE("A build cancelled before it starts runs nothing", "[build][runner]") {
  Fixture f;
  f.WriteRecipe(f.SourceYaml() + Phases() + "package: t\n",
                {{"one.sh", kOneSh}, {"two.sh", kTwoSh}});
  provider::CancelToken cancel;
  cancel.Cancel();
  RunOutcome out = f.Run(cancel);
  CHECK(out.state == v1::BUILD_STATE_CANCELLED);
  CHECK(f.started.empty());
  CHECK(CountEntries(f.instances()) == 0);
}

TEST_CASE("A failing verify phase fails the build and stores nothing", "[build][runner]") {
  Fixture f;
  f.WriteRecipe(
      f.SourceYaml() + Phases() + "package: t\nverify: [{name: check, script: check.sh}]\n",
      {{"one.sh", kOneSh}, {"two.sh", kTwoSh}, {"check.sh", "exit 2\n"}});
  RunOutcome out = f.Run(/*verify=*/true);
  INFO(f.LogText());
  CHECK(out.state == v1::BUILD_STATE_FAILED);
  CHECK(absl::StrContains(out.error, "phase check exited with code 2"));
  CHECK(out.artifacts.empty());
  CHECK(CountEntries(f.tmp.path() / "artifacts" / "sha256") == 0);
  CHECK(CountEntries(f.instances()) == 0);
}

TEST_CASE("A build without verify skips the verify phases", "[build][runner]") {
  Fixture f;
  f.WriteRecipe(
      f.SourceYaml() + Phases() + "package: t\nverify: [{name: check, script: check.sh}]\n",
      {{"one.sh", kOneSh}, {"two.sh", kTwoSh}, {"check.sh", "exit 2\n"}});
  RunOutcome out = f.Run(/*verify=*/false);
  CHECK(out.state == v1::BUILD_STATE_SUCCEEDED);
  CHECK(absl::StrContains(f.LogText(), "==> [7/7] store"));
}

TEST_CASE("A recipe with an artifacts list stores its files without the packager",
          "[build][runner]") {
  Fixture f;
  f.WriteRecipe(
      f.SourceYaml() +
          "phases: [{name: make, script: make.sh}]\n"
          "artifacts: [hello.txt, notes.md]\n",
      {{"make.sh", "echo hello > \"$SF_OUT/hello.txt\"\necho notes > \"$SF_OUT/notes.md\"\n"}});
  RunOutcome out = f.Run();
  INFO(f.LogText());
  REQUIRE(out.state == v1::BUILD_STATE_SUCCEEDED);
  CHECK(f.package_calls == 0);
  REQUIRE(out.artifacts.size() == 2);
  CHECK(out.artifacts[0].name() == "hello.txt");
  CHECK(out.artifacts[0].kind() == "other");
  CHECK(*ReadFile(f.artifacts->PathOf(out.artifacts[0].sha256())) == "hello\n");
  CHECK(out.artifacts[1].name() == "notes.md");
}

TEST_CASE("A phase that leaves no tree.tar fails the collect step", "[build][runner]") {
  Fixture f;
  f.WriteRecipe(f.SourceYaml() + Phases() + "package: t\n",
                {{"one.sh", kOneSh}, {"two.sh", "true\n"}});
  RunOutcome out = f.Run();
  CHECK(out.state == v1::BUILD_STATE_FAILED);
  REQUIRE(!out.phases.empty());
  CHECK(out.phases.back().name() == "collect");
  CHECK(absl::StrContains(out.error, "tree.tar"));
  CHECK(f.package_calls == 0);
}

TEST_CASE("A source that is not cached fails the build before any instance", "[build][runner]") {
  Fixture f;
  f.WriteRecipe(absl::StrCat("source: {name: other.tar.gz, sha256: ", Sha256Hex("other"), "}\n") +
                    Phases() + "package: t\n",
                {{"one.sh", kOneSh}, {"two.sh", kTwoSh}});
  RunOutcome out = f.Run();
  CHECK(out.state == v1::BUILD_STATE_FAILED);
  CHECK(absl::StrContains(out.error, "sfactory sources add"));
  CHECK(f.started == std::vector<std::string>{"sources"});
  CHECK(CountEntries(f.instances()) == 0);
}


// The debug bundle of a failed build (debug_bundle.h), through a real run.
struct DebugFixture : Fixture {
  DebugFixture() {
    debug_dir = tmp.path() / "logs" / "b1.debug";
    debug_bundle = tmp.path() / "logs" / "b1.debug.tar.gz";
    write_bundle = [](const fs::path& root, const fs::path& out) {
      packaging::ArchiveOptions o;
      o.compression = packaging::Compression::kGzip;
      return packaging::WriteDeterministicArchive(root, out, o).status();
    };
    REQUIRE(MakeDirs(tmp.path() / "logs").ok());
  }
  // The bundle extracted; the path of its top directory.
  fs::path Extract() {
    fs::path dest = tmp.path() / "extracted";
    (void)RemoveAll(dest);
    REQUIRE(MakeDirs(dest).ok());
    auto x = packaging::SafeExtract(debug_bundle, dest, {.required_top = "b1-debug"});
    INFO(x.status().ToString());
    REQUIRE(x.ok());
    return dest / "b1-debug";
  }
};

// Phase two leaves a config.log deep in the work dir, exports a secret
// (built at run time, so the script text does not hold it) and fails.
const char* kFailingTwo =
    "mkdir -p \"$SF_WORK/build/sub\"\n"
    "echo 'configure: error: no frob' > \"$SF_WORK/build/sub/config.log\"\n"
    "export MY_API_TOKEN=\"s3$(echo cr3t)\" PLAIN_SETTING=visible\n"
    "echo boom >&2\n"
    "exit 4\n";

TEST_CASE("A failed phase keeps a debug bundle with its script, redacted env and debug_files",
          "[build][runner][debug]") {
  DebugFixture f;
  f.WriteRecipe(f.SourceYaml() + Phases() + "package: t\ndebug_files: [\"**/config.log\"]\n",
                {{"one.sh", kOneSh}, {"two.sh", kFailingTwo}});
  RunOutcome out = f.Run();
  INFO(f.LogText());
  // The build's own error, not one from collecting.
  CHECK(out.state == v1::BUILD_STATE_FAILED);
  CHECK(out.error == "phase two exited with code 4 (see the log above)");
  REQUIRE(out.debug_bundle.has_value());
  CHECK(out.debug_bundle->name() == "b1-debug.tar.gz");
  CHECK(out.debug_bundle->kind() == "debug");
  CHECK(out.debug_bundle->sha256() == *Sha256File(f.debug_bundle));
  CHECK(out.debug_bundle->size() == fs::file_size(f.debug_bundle));

  fs::path top = f.Extract();
  CHECK(*ReadFile(top / "files/build/sub/config.log") == "configure: error: no frob\n");
  const std::string two = *ReadFile(top / "scripts/02-two.sh");
  CHECK(absl::StrContains(two, "exit 4"));
  CHECK(!absl::StrContains(two, "trap"));  // as the recipe rendered it
  CHECK(absl::StrContains(*ReadFile(top / "scripts/01-one.sh"), "echo \"one 24.11.5 24.11 b1 fast\""));
  const std::string env = *ReadFile(top / "env-at-exit.txt");
  CHECK(absl::StrContains(env, "MY_API_TOKEN=<redacted>\n"));
  CHECK(absl::StrContains(env, "PLAIN_SETTING=visible\n"));
  CHECK(absl::StrContains(env, "SF_BUILD_ID=b1\n"));
  CHECK(absl::StrContains(*ReadFile(top / "env.txt"), "SF_PREFIX=/opt/slurm/24.11\n"));
  CHECK(absl::StrContains(*ReadFile(top / "failed-step.log"), "boom"));
  CHECK(absl::StartsWith(*ReadFile(top / "failed-step.log"), "==> [4/7] two"));
  CHECK(*ReadFile(top / "build.log") == f.LogText());
  CHECK(absl::StrContains(*ReadFile(top / "build.json"), "\"slurm_version\": \"24.11.5\""));
  CHECK(*ReadFile(top / "config.txt") == "state_dir: /x    # default\n");
  CHECK(absl::StrContains(*ReadFile(top / "image.txt"), "local host"));
  CHECK(absl::StrContains(*ReadFile(top / "README.txt"), "phase two exited with code 4"));
  // The secret's value is in no file of the bundle.
  for (const auto& e : fs::recursive_directory_iterator(top)) {
    if (!e.is_regular_file()) continue;
    INFO(e.path());
    CHECK(!absl::StrContains(*ReadFile(e.path()), "s3cr3t"));
  }
}

TEST_CASE("WriteDebugBundle writes the same bytes for the same tree", "[build][runner][debug]") {
  DebugFixture f;
  const fs::path root = f.tmp.path() / "same";
  REQUIRE(MakeDirs(root / "b1-debug").ok());
  REQUIRE(WriteFileAtomic(root / "b1-debug" / "README.txt", "x").ok());
  REQUIRE(WriteFileAtomic(f.tmp.path() / "fixed.log", "log\n").ok());
  auto a = WriteDebugBundle("b1", root, f.tmp.path() / "fixed.log", f.tmp.path() / "none",
                            f.tmp.path() / "a.tar.gz", f.write_bundle);
  auto b = WriteDebugBundle("b1", root, f.tmp.path() / "fixed.log", f.tmp.path() / "none",
                            f.tmp.path() / "b.tar.gz", f.write_bundle);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->sha256() == b->sha256());
}

TEST_CASE("A succeeded build keeps no debug bundle and removes an earlier attempt's",
          "[build][runner][debug]") {
  DebugFixture f;
  REQUIRE(MakeDirs(f.debug_dir / "b1-debug").ok());
  REQUIRE(WriteFileAtomic(f.debug_bundle, "stale").ok());
  f.WriteRecipe(f.SourceYaml() + Phases() + "package: t\n",
                {{"one.sh", kOneSh}, {"two.sh", kTwoSh}});
  RunOutcome out = f.Run();
  CHECK(out.state == v1::BUILD_STATE_SUCCEEDED);
  CHECK(!out.debug_bundle.has_value());
  CHECK(!fs::exists(f.debug_dir));
  CHECK(!fs::exists(f.debug_bundle));
}

TEST_CASE("A debug bundle that cannot be written leaves the build's error as it was",
          "[build][runner][debug]") {
  DebugFixture f;
  f.write_bundle = [](const fs::path&, const fs::path&) {
    return absl::ResourceExhaustedError("write b1.debug.tar.gz: No space left on device");
  };
  f.WriteRecipe(f.SourceYaml() + Phases() + "package: t\ndebug_files: [nothing.log]\n",
                {{"one.sh", "echo one\n"}, {"two.sh", "exit 4\n"}});
  RunOutcome out = f.Run();
  CHECK(out.state == v1::BUILD_STATE_FAILED);
  CHECK(out.error == "phase two exited with code 4 (see the log above)");
  CHECK(!out.debug_bundle.has_value());
  CHECK(absl::StrContains(f.LogText(), "==> warning: no debug bundle: write b1.debug.tar.gz"));
  // The tree is still there, with what went wrong on the way as notes.
  const std::string readme = *ReadFile(f.debug_dir / "b1-debug" / "README.txt");
  CHECK(absl::StrContains(readme, "no file in the work dir matched the debug_files (nothing.log)"));
}

TEST_CASE("A cancelled build keeps no debug bundle", "[build][runner][debug]") {
  DebugFixture f;
  f.WriteRecipe(f.SourceYaml() + Phases() + "package: t\n",
                {{"one.sh", "echo one\n"}, {"two.sh", "exit 4\n"}});
  provider::CancelToken cancel;
  cancel.Cancel();
  RunOutcome out = f.Run(cancel);
  CHECK(out.state == v1::BUILD_STATE_CANCELLED);
  CHECK(!out.debug_bundle.has_value());
  CHECK(!fs::exists(f.debug_dir));
}

}  // namespace
}  // namespace sfactory::runner
