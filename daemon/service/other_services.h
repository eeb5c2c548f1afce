// The small services: server info, the source cache and the base-image
// pool. Each only unpacks, calls domain code and maps Status.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>

#include "common/catalog.h"
#include "daemon/lifecycle/build_manager.h"
#include "daemon/cache/source_cache.h"
#include "daemon/provider/provider.h"
#include "daemon/recipe/recipe.h"
#include "sfactory/v1/sfactory.grpc.pb.h"

namespace sfactory::service {

struct InfoDeps {
  lifecycle::BuildManager* manager;
  provider::Provider* provider;
  const recipe::RecipeSet* recipes;
  const Catalog* catalog;
  int max_parallel_builds;
  std::string default_recipe, default_os, default_arch;
};

class ServerInfoServiceImpl final : public v1::ServerInfoService::Service {
 public:
  explicit ServerInfoServiceImpl(InfoDeps deps) : deps_(std::move(deps)) {}
  grpc::Status GetServerInfo(grpc::ServerContext* ctx, const v1::GetServerInfoRequest* req,
                             v1::ServerInfo* resp) override;

 private:
  InfoDeps deps_;
};

class SourceServiceImpl final : public v1::SourceService::Service {
 public:
  SourceServiceImpl(cache::SourceCache* cache, store::Store* store) : cache_(cache), store_(store) {}
  grpc::Status AddSource(grpc::ServerContext* ctx, grpc::ServerReader<v1::AddSourceRequest>* reader,
                         v1::Source* resp) override;
  grpc::Status ListSources(grpc::ServerContext* ctx, const v1::ListSourcesRequest* req,
                           v1::ListSourcesResponse* resp) override;

 private:
  cache::SourceCache* cache_;
  store::Store* store_;
};

struct CacheDeps {
  lifecycle::BuildManager* manager;
  provider::Provider* provider;
  std::filesystem::path state_dir;
  std::filesystem::path cache_dir;
  uint64_t min_free_space = 0;
};

class CacheServiceImpl final : public v1::CacheService::Service {
 public:
  explicit CacheServiceImpl(CacheDeps deps) : deps_(std::move(deps)) {}
  grpc::Status GetUsage(grpc::ServerContext* ctx, const v1::GetUsageRequest* req,
                        v1::CacheUsage* resp) override;

 private:
  CacheDeps deps_;
};

class ImageServiceImpl final : public v1::ImageService::Service {
 public:
  ImageServiceImpl(provider::Provider* provider, const recipe::RecipeSet* recipes,
                   SpecDefaults defaults)
      : provider_(provider), recipes_(recipes), defaults_(std::move(defaults)) {}
  grpc::Status ListBaseImages(grpc::ServerContext* ctx, const v1::ListBaseImagesRequest* req,
                              v1::ListBaseImagesResponse* resp) override;
  grpc::Status RebuildBaseImage(grpc::ServerContext* ctx, const v1::RebuildBaseImageRequest* req,
                                v1::BaseImage* resp) override;
  grpc::Status PruneBaseImages(grpc::ServerContext* ctx, const v1::PruneBaseImagesRequest* req,
                               v1::PruneBaseImagesResponse* resp) override;

 private:
  provider::Provider* provider_;
  const recipe::RecipeSet* recipes_;
  SpecDefaults defaults_;
};

}  // namespace sfactory::service
