// Instances through the LXD API: lifecycle helpers shared by the provider and
// the base-image pool, and the Instance that runs phases in a container.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "daemon/provider/lxd/lxd_client.h"
#include "daemon/provider/provider.h"

namespace sfactory::provider::lxd {

// Starts a stopped instance and waits for the operation.
absl::Status StartInstance(LxdClient& client, const std::string& name, std::chrono::seconds timeout);
// Stops it at once (SIGKILL to everything inside); an already stopped
// instance is fine.
absl::Status StopInstance(LxdClient& client, const std::string& name, std::chrono::seconds timeout);
// Force-stops and deletes; a missing instance is fine.
absl::Status DeleteInstance(LxdClient& client, const std::string& name,
                            std::chrono::seconds timeout);

// Runs `command` without streams (no websockets) and returns its exit code.
absl::StatusOr<int> ExecQuiet(LxdClient& client, const std::string& instance,
                              const std::vector<std::string>& command,
                              std::chrono::seconds timeout);

// Retries a trivial exec until the container accepts commands (its init is
// up) or `timeout` passes.
absl::Status WaitUntilReady(LxdClient& client, const std::string& instance,
                            std::chrono::seconds timeout, CancelToken* cancel);

struct StreamingExec {
  std::vector<std::string> command;
  std::map<std::string, std::string> environment;
  std::string cwd = "/";
  // Named in errors ("phase build").
  std::string what;
};

// Runs a command with stdout and stderr going to `sink` as they arrive.
// When `cancel` fires: SIGKILL through the control channel, then
// `on_cancel` (the provider force-stops the container, which also ends
// children that ignored the signal); the result is Cancelled.
absl::StatusOr<int> ExecStreaming(LxdClient& client, const std::string& instance,
                                  const StreamingExec& exec, OutputSink& sink,
                                  CancelToken* cancel, const std::function<void()>& on_cancel,
                                  std::chrono::seconds operation_timeout);

// Uploads/downloads through the file API (streamed; any size).
absl::Status PushFileTo(LxdClient& client, const std::string& instance,
                        const std::filesystem::path& host_path, const std::string& instance_path,
                        int mode);
absl::Status PushBytesTo(LxdClient& client, const std::string& instance, absl::string_view data,
                         const std::string& instance_path, int mode);
absl::Status PullFileFrom(LxdClient& client, const std::string& instance,
                          const std::string& instance_path,
                          const std::filesystem::path& host_path);
// mkdir -p through the file API.
absl::Status MakeInstanceDirs(LxdClient& client, const std::string& instance,
                              const std::string& path);

class LxdInstance : public Instance {
 public:
  LxdInstance(LxdClient& client, std::string name, InstanceLayout layout,
              std::chrono::seconds operation_timeout);

  const std::string& name() const override { return name_; }
  const InstanceLayout& layout() const override { return layout_; }
  absl::StatusOr<int> Exec(const ExecRequest& request, OutputSink& sink,
                           CancelToken& cancel) override;
  absl::Status PushFile(const std::filesystem::path& host_path, const std::string& instance_path,
                        int mode = 0644) override;
  absl::Status PullFile(const std::string& instance_path,
                        const std::filesystem::path& host_path) override;

 private:
  LxdClient& client_;
  const std::string name_;
  const InstanceLayout layout_;
  const std::chrono::seconds operation_timeout_;
  absl::Mutex mu_;
  int phases_run_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::string> dirs_made_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sfactory::provider::lxd
