// Where builds run. A Provider makes isolated instances (an LXD container,
// or a private work dir for the `local` provider); an Instance runs phase
// scripts and moves files in and out. The daemon never assumes it can see an
// instance's filesystem: files cross only through PushFile/PullFile.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/cancel.h"
#include "common/output_pump.h"
#include "sfactory/v1/sfactory.pb.h"

namespace sfactory::provider {

// Receives an instance's output as it is produced. Called from one thread
// at a time per Exec.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual void Write(absl::string_view bytes) = 0;
};

// `sink` as an OutputFn, for common/output_pump.h and RunToSink.
inline OutputFn WriteTo(OutputSink& sink) {
  return [&sink](absl::string_view bytes) { sink.Write(bytes); };
}

// Providers take the common cancel token (common/cancel.h).
using CancelToken = ::sfactory::CancelToken;

// Paths as seen inside an instance. Scripts get them as SF_* variables.
struct InstanceLayout {
  std::string sources;  // SF_SOURCES: the source cache, read-only
  std::string ccache;   // SF_CCACHE_DIR: the shared ccache dir, read-write
  std::string work;     // SF_WORK: private scratch for this build
  std::string out;      // SF_OUT: where phases leave files for PullFile
};

enum class InstancePurpose { kBuild, kVerify };

struct InstanceRequest {
  std::string build_id;
  v1::BuildSpec spec;  // normalised: os and arch are set
  InstancePurpose purpose = InstancePurpose::kBuild;
  // Host directories to mount (a verify instance gets none of them).
  std::filesystem::path sources_dir;
  std::filesystem::path ccache_dir;
  int cpus = 0;               // 0 = no limit
  uint64_t memory_bytes = 0;  // 0 = no limit
  // Distribution packages the recipe needs in its base image.
  std::vector<std::string> packages;
};

struct ExecRequest {
  std::string phase;   // for messages
  std::string script;  // bash script text, run with `bash -eo pipefail`
  std::vector<std::string> env;  // "KEY=value", added to the scrubbed base
};

class Instance {
 public:
  virtual ~Instance() = default;
  virtual const std::string& name() const = 0;
  virtual const InstanceLayout& layout() const = 0;

  // Runs the script; its output goes to `sink` while it runs. Returns the
  // exit code. When `cancel` fires, the script's processes are killed and
  // the result is Cancelled.
  virtual absl::StatusOr<int> Exec(const ExecRequest& request, OutputSink& sink,
                                   CancelToken& cancel) = 0;

  // Copies a host file into the instance (parents created).
  virtual absl::Status PushFile(const std::filesystem::path& host_path,
                                const std::string& instance_path, int mode = 0644) = 0;
  // Copies a file out of the instance to `host_path` (written atomically).
  virtual absl::Status PullFile(const std::string& instance_path,
                                const std::filesystem::path& host_path) = 0;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string name() const = 0;

  // OK when this provider can build `spec` at all (whatever its health);
  // InvalidArgument saying what it builds otherwise. `spec` is normalised.
  virtual absl::Status Accepts(const v1::BuildSpec& spec) const { return absl::OkStatus(); }

  // OK when builds can run now. Otherwise Unavailable or FailedPrecondition
  // whose message says what is wrong and how to fix it.
  virtual absl::Status Check() = 0;

  // Creates and starts an instance; progress lines go to `log`.
  virtual absl::StatusOr<std::unique_ptr<Instance>> Create(const InstanceRequest& request,
                                                           OutputSink& log,
                                                           CancelToken& cancel) = 0;
  // Stops and removes the instance and everything inside it.
  virtual absl::Status Destroy(std::unique_ptr<Instance> instance) = 0;

  // Removes instances this provider made for builds not in `live_build_ids`.
  // Returns how many were removed.
  virtual absl::StatusOr<int> RemoveOrphans(const std::set<std::string>& live_build_ids) = 0;

  // Base-image pool. Providers without one return an empty list / OK.
  virtual absl::StatusOr<std::vector<v1::BaseImage>> ListBaseImages() {
    return std::vector<v1::BaseImage>();
  }
  virtual absl::StatusOr<v1::BaseImage> RebuildBaseImage(const v1::BuildSpec& spec,
                                                         const std::vector<std::string>& packages) {
    return absl::UnimplementedError(name() + " provider has no base images");
  }
  virtual absl::StatusOr<std::vector<v1::BaseImage>> PruneBaseImages(bool all) {
    return std::vector<v1::BaseImage>();
  }
};

}  // namespace sfactory::provider
