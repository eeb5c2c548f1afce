// sfactory.v1.ServerInfoService: what `sfactory info` shows — version,
// provider and its problem, recipes, Slurm series, capacity, defaults.
#pragma once

#include "daemon/auth/authenticator.h"

#include <string>

#include "common/catalog.h"
#include "daemon/lifecycle/build_manager.h"
#include "daemon/provider/provider.h"
#include "daemon/recipe/recipe.h"
#include "sfactory/v1/sfactory.grpc.pb.h"

namespace sfactory::service {

// What the service reads; all of it outlives the service.
struct InfoDeps {
  lifecycle::BuildManager* manager;
  provider::Provider* provider;
  const recipe::RecipeSet* recipes;
  const Catalog* catalog;
  int max_parallel_builds;
  std::string default_recipe, default_os, default_arch;
  auth::Authenticator* auth;
};

class ServerInfoServiceImpl final : public v1::ServerInfoService::Service {
 public:
  explicit ServerInfoServiceImpl(InfoDeps deps) : deps_(std::move(deps)) {}
  // Asks the provider's Check() on every call, so the answer is current.
  grpc::Status GetServerInfo(grpc::ServerContext* ctx, const v1::GetServerInfoRequest* req,
                             v1::ServerInfo* resp) override;

 private:
  InfoDeps deps_;
};

}  // namespace sfactory::service
