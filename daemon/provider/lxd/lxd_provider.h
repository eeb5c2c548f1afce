// The `lxd` provider: every build runs in an LXD container copied from a
// cached base image (see docs/LXD.md). Instances live in an LXD project of
// their own, are named sf-<build id> (sf-<build id>-verify) and labelled
// with user.sfactory.build-id and user.sfactory.purpose.
#pragma once

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "daemon/provider/lxd/base_pool.h"
#include "daemon/provider/lxd/lxd_client.h"
#include "daemon/provider/lxd/lxd_options.h"
#include "daemon/provider/provider.h"

namespace sfactory::provider::lxd {

// Where the time of the last Create() went (seconds).
struct CreateTimings {
  double base = 0;   // finding (or building) the base image
  double copy = 0;   // creating the instance from the base
  double start = 0;  // starting it
  double ready = 0;  // until it accepts commands (and has its work dirs)
};

class LxdProvider : public Provider {
 public:
  // Does not contact LXD (Check() does); fails only on bad options.
  // `cache_dir` is the daemon's cache dir; the provider keeps its temporary
  // root filesystems and the debootstrap package cache under <cache_dir>/lxd.
  static absl::StatusOr<std::unique_ptr<LxdProvider>> Make(const LxdOptions& options,
                                                           const std::filesystem::path& cache_dir);

  std::string name() const override { return "lxd"; }
  absl::Status Check() override;
  absl::StatusOr<std::unique_ptr<Instance>> Create(const InstanceRequest& request, OutputSink& log,
                                                   CancelToken& cancel) override;
  absl::Status Destroy(std::unique_ptr<Instance> instance) override;
  absl::StatusOr<int> RemoveOrphans(const std::set<std::string>& live_build_ids) override;

  absl::StatusOr<std::vector<v1::BaseImage>> ListBaseImages() override;
  // Progress of the rebuild goes nowhere; the daemon can watch it through
  // ListBaseImages (state "building").
  absl::StatusOr<v1::BaseImage> RebuildBaseImage(const v1::BuildSpec& spec,
                                                 const std::vector<std::string>& packages) override;
  absl::StatusOr<std::vector<v1::BaseImage>> PruneBaseImages(bool all) override;

  // For tests and benchmarks.
  LxdClient& client() { return *client_; }
  BasePool& pool() { return *pool_; }
  const LxdOptions& options() const { return options_; }
  CreateTimings last_create_timings() const;
  // "sf-<build id>" or "sf-<build id>-verify".
  static std::string InstanceName(const std::string& build_id, InstancePurpose purpose);

 private:
  LxdProvider(const LxdOptions& options, std::unique_ptr<LxdClient> client,
              std::filesystem::path work_dir);
  // Makes sure the project exists and picks the storage pool; remembered once OK.
  absl::StatusOr<std::string> Setup();

  const LxdOptions options_;
  std::unique_ptr<LxdClient> client_;
  std::unique_ptr<BasePool> pool_;
  const std::chrono::seconds op_timeout_;
  mutable absl::Mutex mu_;
  std::string storage_pool_ ABSL_GUARDED_BY(mu_);  // empty until Setup() succeeded
  CreateTimings last_timings_ ABSL_GUARDED_BY(mu_);
};

// The provider as the daemon sees it.
absl::StatusOr<std::unique_ptr<Provider>> MakeLxdProvider(const LxdOptions& options,
                                                          const std::filesystem::path& cache_dir);

// True when LXD answers GET /1.0 on the configured endpoint within a couple
// of seconds (the daemon's choice of default provider).
bool LxdAnswers(const LxdOptions& options);

// Why this host has LXD even when it does not answer now (an `lxd:` section
// naming a socket or URL, an LXD socket, or the lxd daemon's binary or
// state directory), or empty when nothing says LXD is installed. With
// `provider: auto`, an installed LXD that does not answer yet (slow at boot,
// stopped for an upgrade) is waited for, never replaced by the local
// provider.
std::string LxdInstalledBecause(const LxdOptions& options);

}  // namespace sfactory::provider::lxd
