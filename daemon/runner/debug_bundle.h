// What a failed build keeps to explain itself: the debug tree (rendered
// scripts, the environment with secrets redacted, the recipe's debug_files
// pulled out of the build instance, the base image, the spec, the daemon's
// effective config) and the bundle archived from it with the build log and
// the manifest. Lives beside the build log (<log_dir>/<id>.debug/ and
// <id>.debug.tar.gz) so whatever removes a build's log removes these too.
//
// Collecting never fails: every problem becomes a line under "Notes" in the
// tree's README.txt, and the build keeps its own error. Not thread-safe per
// tree; different builds' trees are independent.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/provider/provider.h"
#include "daemon/recipe/recipe.h"
#include "sfactory/v1/sfactory.pb.h"

namespace sfactory::runner {

// Archives the tree below `root` (root itself is no entry) into `out`,
// atomically and byte-for-byte the same for the same tree. Injected (like
// PackageFn) so the runner does not depend on how archives are made.
using BundleFn = std::function<absl::Status(const std::filesystem::path& root,
                                            const std::filesystem::path& out)>;

// True when a variable or config key of this name holds a secret: the name
// contains TOKEN, SECRET, PASSWORD or KEY, in any case.
bool IsSecretName(absl::string_view name);

// "NAME=value" entries, one a line, with the value of a secret name replaced
// by "<redacted>" and newlines in values written as "\n".
std::string RedactEnv(const std::vector<std::string>& entries);

// The text of `sfactoryd --show-config` (config::Describe: "key: value  #
// origin" lines) with secret values redacted, also inside flow mappings
// such as `lxd: {trust_password: x}`.
std::string RedactConfigText(absl::string_view text);

// `script` with an EXIT trap in front that saves the phase's environment as
// it exits (env -0) to `env_file`, on the script's first line so that the
// line numbers in bash's messages stay those of the script. The exit code
// is unchanged; a script that sets its own EXIT trap replaces this one.
std::string WithEnvCapture(absl::string_view script, absl::string_view env_file);

// Where a phase's environment goes inside the instance (under SF_OUT).
inline constexpr absl::string_view kEnvCaptureFile = ".sf-debug-env";

// Limits on what CollectDebug pulls out of an instance.
struct DebugLimits {
  int max_files = 100;
  uint64_t max_file_bytes = uint64_t{16} << 20;
  uint64_t max_total_bytes = uint64_t{64} << 20;
  // The failing step's part of the log is cut to its last this many bytes.
  uint64_t max_step_log_bytes = uint64_t{4} << 20;
};

struct DebugInput {
  const v1::Build* build = nullptr;     // id, spec, digest
  const recipe::Recipe* recipe = nullptr;
  std::map<std::string, std::string> vars;  // placeholder values, to render the scripts
  std::vector<std::string> env;         // what the daemon gave every build phase
  std::string error;                    // the build's error
  std::filesystem::path log_path;       // the build log so far
  std::string effective_config;         // already redacted (RedactConfigText)
  DebugLimits limits;
};

// The top directory of the tree and of the bundle: "<build id>-debug".
std::string DebugTopDir(absl::string_view build_id);

// Writes the debug tree into `dir`/DebugTopDir() (`dir` is emptied first). Talks to
// `instance` (may be null: it was never created) through Exec and PullFile
// only, with `cancel`, and asks `provider` for its base images.
void CollectDebug(const DebugInput& input, provider::Provider& provider,
                  provider::Instance* instance, provider::CancelToken& cancel,
                  const std::filesystem::path& dir);

// Completes the tree in `dir` with the finished log (as build.log) and the
// manifest files in `out_dir` (names containing "manifest"), archives `dir`
// through `write` into `bundle` and returns the bundle as an artifact named
// "<build id>-debug.tar.gz", kind "debug".
absl::StatusOr<v1::Artifact> WriteDebugBundle(const std::string& build_id,
                                              const std::filesystem::path& dir,
                                              const std::filesystem::path& log_path,
                                              const std::filesystem::path& out_dir,
                                              const std::filesystem::path& bundle,
                                              const BundleFn& write);

}  // namespace sfactory::runner
