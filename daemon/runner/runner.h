// Runs one build from sources to stored artifacts: fetch sources, create the
// build instance, run the recipe's phases, pull the output, package it,
// verify it in a fresh instance, store the artifacts. Every step writes a
// header and its outcome to the build log.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/catalog.h"
#include "daemon/artifacts/artifact_store.h"
#include "daemon/runner/build_log.h"
#include "daemon/runner/debug_bundle.h"
#include "daemon/cache/source_cache.h"
#include "daemon/provider/provider.h"
#include "daemon/recipe/recipe.h"
#include "sfactory/v1/sfactory.pb.h"

namespace sfactory::runner {

using LogFn = std::function<void(absl::string_view line)>;

struct PackageInput {
  std::filesystem::path tree_tar;
  std::filesystem::path work_dir;
  std::filesystem::path out_dir;
  std::string package_name;
  v1::BuildSpec spec;
  std::string build_id;
  std::string digest;
  std::string install_prefix;
  std::vector<v1::PhaseTiming> phases;
  std::vector<v1::Source> sources;  // name, sha256, size of each source used
};

struct PackageOutput {
  std::filesystem::path path;
  std::string kind;  // software | module | manifest | checksums
};

// Turns tree.tar into the release files. Injected so the runner does not
// depend on how packaging is done (and tests can substitute it).
using PackageFn = std::function<absl::StatusOr<std::vector<PackageOutput>>(
    const PackageInput& input, const LogFn& log)>;

struct RunnerDeps {
  provider::Provider* provider = nullptr;
  cache::SourceCache* sources = nullptr;
  artifacts::ArtifactStore* artifacts = nullptr;
  PackageFn package;
  std::filesystem::path work_root;   // host scratch: <work_root>/<build id>
  std::filesystem::path ccache_dir;
  int build_jobs = 1;
  int instance_cpus = 0;
  uint64_t instance_memory_bytes = 0;
  bool allow_downloads = true;
  // Archives a failed build's debug tree (debug_bundle.h); null: no bundle.
  BundleFn write_bundle;
  // sfactoryd --show-config with secrets redacted, for debug bundles.
  std::string effective_config;
  // A run longer than this fails (max_build_time); infinite: no limit.
  absl::Duration max_build_time = absl::InfiniteDuration();
  // A log growing past this fails the build; it keeps its first
  // max_log_size bytes and its last kLogTailBytes (max_log_size; 0: none).
  uint64_t max_log_size = 0;
};

// What a log cut at max_log_size keeps of its end.
inline constexpr uint64_t kLogTailBytes = 1 << 20;

struct RunRequest {
  v1::Build build;                  // id, resolved spec, digest, verify
  const recipe::Recipe* recipe = nullptr;
  const Release* release = nullptr;  // null for recipes with a fixed source
  bool keep_instance_on_failure = false;
  // Logged after the build's first lines ("==> warning: ...").
  std::vector<std::string> warnings;
  // Where a failed build keeps its debug tree and bundle (debug_bundle.h);
  // both are removed as the run starts. Empty: nothing is kept.
  std::filesystem::path debug_dir;
  std::filesystem::path debug_bundle;
};

struct RunOutcome {
  v1::BuildState state = v1::BUILD_STATE_FAILED;
  std::string error;
  std::vector<v1::Artifact> artifacts;
  std::vector<v1::PhaseTiming> phases;
  // The instance could not be created because the provider is not usable
  // (e.g. LXD stopped): nothing ran, the build should wait in the queue.
  bool provider_unavailable = false;
  // FAILED with a debug bundle written: its name, sha256 and size.
  std::optional<v1::Artifact> debug_bundle;
};

// What the runner reports as a step starts, so that a watcher can show every
// step of the run, the finished ones with their time, before the run ends.
struct StepUpdate {
  const std::string& name;                    // the step starting now
  const std::vector<std::string>& planned;    // every step of this run, in order
  const std::vector<v1::PhaseTiming>& done;   // the steps finished so far
};
using OnStep = std::function<void(const StepUpdate&)>;

class Runner {
 public:
  explicit Runner(RunnerDeps deps) : deps_(std::move(deps)) {}

  // Never throws; every failure ends up in the outcome and the log.
  // `on_step` is called as each step starts.
  RunOutcome Run(const RunRequest& request, BuildLog& log, provider::CancelToken& cancel,
                 const OnStep& on_step);

 private:
  RunnerDeps deps_;
};

// The install prefix compiled into a build: stable per series so compiler
// caches hit across patch releases.
std::string InstallPrefix(const v1::BuildSpec& spec);

}  // namespace sfactory::runner
