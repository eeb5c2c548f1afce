// sfactory.v1.ImageService: the provider's base images — list, rebuild,
// prune. Requests that name no recipe, OS or arch get the daemon's defaults.
#pragma once

#include "daemon/auth/authenticator.h"

#include "common/spec.h"
#include "daemon/provider/provider.h"
#include "daemon/recipe/recipe.h"
#include "sfactory/v1/sfactory.grpc.pb.h"

namespace sfactory::service {

class ImageServiceImpl final : public v1::ImageService::Service {
 public:
  // `provider` and `recipes` outlive the service.
  ImageServiceImpl(provider::Provider* provider, const recipe::RecipeSet* recipes,
                   SpecDefaults defaults, auth::Authenticator* auth)
      : provider_(provider), recipes_(recipes), defaults_(std::move(defaults)), auth_(auth) {}
  grpc::Status ListBaseImages(grpc::ServerContext* ctx, const v1::ListBaseImagesRequest* req,
                              v1::ListBaseImagesResponse* resp) override;
  // Admins only. INVALID_ARGUMENT for an unknown recipe; blocks until the
  // image is built.
  grpc::Status RebuildBaseImage(grpc::ServerContext* ctx, const v1::RebuildBaseImageRequest* req,
                                v1::BaseImage* resp) override;
  grpc::Status PruneBaseImages(grpc::ServerContext* ctx, const v1::PruneBaseImagesRequest* req,
                               v1::PruneBaseImagesResponse* resp) override;

 private:
  provider::Provider* provider_;
  const recipe::RecipeSet* recipes_;
  SpecDefaults defaults_;
  auth::Authenticator* auth_;
};

}  // namespace sfactory::service
