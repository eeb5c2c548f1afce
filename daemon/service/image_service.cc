#include "daemon/service/image_service.h"

#include "common/echo.h"
#include "common/grpc_status.h"
#include "daemon/service/calls.h"
#include "daemon/service/replies.h"

namespace sfactory::service {

grpc::Status ImageServiceImpl::ListBaseImages(grpc::ServerContext* ctx, const v1::ListBaseImagesRequest*,
                                              v1::ListBaseImagesResponse* resp) {
  SF_AUTHENTICATED_OR_RETURN(*auth_, *ctx);
  return ReplyWithAll(provider_->ListBaseImages(), resp->mutable_images());
}

grpc::Status ImageServiceImpl::RebuildBaseImage(grpc::ServerContext* ctx,
                                                const v1::RebuildBaseImageRequest* req,
                                                v1::BaseImage* resp) {
  SF_CALLER_OR_RETURN(caller, *auth_, *ctx);
  if (absl::Status s = auth_->admins().Require(caller, "rebuild base images"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  v1::BuildSpec spec;
  spec.set_recipe(req->recipe().empty() ? defaults_.recipe : req->recipe());
  spec.set_os(req->os().empty() ? defaults_.os : req->os());
  spec.set_arch(req->arch().empty() ? defaults_.arch : req->arch());
  const recipe::Recipe* r = recipes_->Find(spec.recipe());
  if (!r) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unknown recipe " + EchoInput(spec.recipe()));
  }
  auto image = provider_->RebuildBaseImage(spec, r->packages);
  if (!image.ok()) return ToGrpcStatus(image.status());
  *resp = std::move(*image);
  return grpc::Status::OK;
}

grpc::Status ImageServiceImpl::PruneBaseImages(grpc::ServerContext* ctx,
                                               const v1::PruneBaseImagesRequest* req,
                                               v1::PruneBaseImagesResponse* resp) {
  SF_CALLER_OR_RETURN(caller, *auth_, *ctx);
  if (absl::Status s = auth_->admins().Require(caller, "prune base images"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  return ReplyWithAll(provider_->PruneBaseImages(req->all()), resp->mutable_removed());
}

}  // namespace sfactory::service
