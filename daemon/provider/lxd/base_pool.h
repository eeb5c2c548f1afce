// The base-image pool: one LXD image per (os, arch, packages, provisioning,
// image source), named by the digest of those. Build instances are copies of
// a base. Bases are built once (concurrent callers that need the same
// missing base wait for the one creation), expire after a configured age and
// are then rebuilt.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "daemon/provider/lxd/lxd_client.h"
#include "daemon/provider/lxd/lxd_options.h"
#include "daemon/provider/provider.h"

namespace sfactory::provider::lxd {

// Bump when the provisioning of a base changes: every digest changes with it.
inline constexpr char kProvisionVersion[] = "3";  // 3: packages installed with apt in the chroot

struct BaseDefinition {
  std::string os;
  std::string arch;
  // Sorted, without duplicates.
  std::vector<std::string> packages;
  // "debootstrap" or "image:<alias or fingerprint>".
  std::string source;
  // The recipe that asked for it first (informational, not in the digest).
  std::string recipe;
  std::string digest;

  // "sfactory-base-<first 12 hex digits of the digest>".
  std::string Alias() const;
};

BaseDefinition DefineBase(const v1::BuildSpec& spec, const std::vector<std::string>& packages,
                          const LxdOptions& options);

class BasePool {
 public:
  // `work_dir` holds temporary root filesystems and the debootstrap package
  // cache (kept so that a rebuild does not download everything again).
  BasePool(LxdClient& client, const LxdOptions& options, std::filesystem::path work_dir);

  // Returns the fingerprint of a ready, unexpired base, building it first
  // when needed. Progress goes to `log`. `storage_pool` is where a base built
  // from an image source runs while it is provisioned.
  absl::StatusOr<std::string> Ensure(const BaseDefinition& base, const std::string& storage_pool,
                                     OutputSink& log, CancelToken& cancel);
  // Builds the base again even when a ready one exists; replaces it.
  absl::StatusOr<v1::BaseImage> Rebuild(const BaseDefinition& base,
                                        const std::string& storage_pool, OutputSink& log,
                                        CancelToken& cancel);
  // Every base in the project, plus those being built (state "building").
  absl::StatusOr<std::vector<v1::BaseImage>> List();
  // Removes expired and superseded bases (all of them with `all`).
  absl::StatusOr<std::vector<v1::BaseImage>> Prune(bool all);

  // How many bases this pool has built since it was made.
  int creations() const;
  // True while a base with this digest is being built.
  bool Building(const std::string& digest) const;

  // Held shared while an instance is copied from a base, exclusively while a
  // base is deleted.
  absl::Mutex& copy_mutex() { return copy_mu_; }

 private:
  absl::Status Acquire(const BaseDefinition& base, CancelToken& cancel);
  void Release(const std::string& digest);
  // Fingerprint of the aliased base if it is there and not expired.
  absl::StatusOr<std::string> FindReady(const BaseDefinition& base);
  absl::StatusOr<std::string> Build(const BaseDefinition& base, const std::string& storage_pool,
                                    OutputSink& log, CancelToken& cancel);
  // apt-get install of base.packages inside the debootstrapped rootfs.
  absl::Status InstallPackages(const std::filesystem::path& rootfs, const BaseDefinition& base,
                               OutputSink& log, CancelToken& cancel);
  absl::StatusOr<std::string> BuildWithDebootstrap(const BaseDefinition& base, OutputSink& log,
                                                   CancelToken& cancel);
  absl::StatusOr<std::string> BuildFromImage(const BaseDefinition& base,
                                             const std::string& storage_pool, OutputSink& log,
                                             CancelToken& cancel);
  absl::Status PointAlias(const BaseDefinition& base, const std::string& fingerprint);
  absl::Status DeleteImage(const std::string& fingerprint);
  v1::BaseImage Describe(const Json& image) const;

  LxdClient& client_;
  const LxdOptions options_;
  const std::filesystem::path work_dir_;
  const std::chrono::seconds op_timeout_;

  mutable absl::Mutex mu_;
  std::map<std::string, BaseDefinition> building_ ABSL_GUARDED_BY(mu_);
  int creations_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex copy_mu_;
};

}  // namespace sfactory::provider::lxd
