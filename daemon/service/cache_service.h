// sfactory.v1.CacheService: disk usage of the state dir and caches by area,
// the provider's base images, and the state filesystem's free space.
#pragma once

#include "daemon/auth/authenticator.h"

#include <cstdint>
#include <filesystem>

#include "daemon/lifecycle/build_manager.h"
#include "daemon/provider/provider.h"
#include "sfactory/v1/sfactory.grpc.pb.h"

namespace sfactory::service {

// What the service reads; the pointers outlive the service.
struct CacheDeps {
  lifecycle::BuildManager* manager;
  provider::Provider* provider;
  std::filesystem::path state_dir;
  std::filesystem::path cache_dir;
  uint64_t min_free_space = 0;
  auth::Authenticator* auth = nullptr;
};

// Bytes and files of every area of the state and cache dirs, and the
// provider's base images; also what the metrics endpoint reports.
absl::StatusOr<v1::CacheUsage> MeasureUsage(const CacheDeps& deps);

class CacheServiceImpl final : public v1::CacheService::Service {
 public:
  explicit CacheServiceImpl(CacheDeps deps) : deps_(std::move(deps)) {}
  // Walks the areas on every call; an area that cannot be read fails the call.
  grpc::Status GetUsage(grpc::ServerContext* ctx, const v1::GetUsageRequest* req,
                        v1::CacheUsage* resp) override;

 private:
  CacheDeps deps_;
};

}  // namespace sfactory::service
