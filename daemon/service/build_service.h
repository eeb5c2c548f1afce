// sfactory.v1.BuildService: identifies the caller, unpacks requests, calls
// the BuildManager, maps Status to gRPC codes (common/grpc_status.h). Everyone
// authenticated may submit, list, watch and fetch; cancel and the debug
// bundle need the build's owner or an admin. No build logic lives here.
#pragma once

#include <atomic>

#include "daemon/artifacts/artifact_store.h"
#include "daemon/auth/authenticator.h"
#include "daemon/lifecycle/build_manager.h"
#include "daemon/metrics/recorder.h"
#include "sfactory/v1/sfactory.grpc.pb.h"

namespace sfactory::service {

class BuildServiceImpl final : public v1::BuildService::Service {
 public:
  // Every pointer outlives the service. Submits with a priority above
  // `max_priority` need an admin.
  BuildServiceImpl(lifecycle::BuildManager* manager, store::Store* store,
                   const artifacts::ArtifactStore* artifacts, auth::Authenticator* auth,
                   int max_priority, const std::atomic<bool>* shutting_down,
                   metrics::Recorder* metrics = &metrics::NullRecorder())
      : manager_(manager),
        store_(store),
        artifacts_(artifacts),
        auth_(auth),
        max_priority_(max_priority),
        shutting_down_(shutting_down),
        metrics_(metrics) {}

  grpc::Status SubmitBuild(grpc::ServerContext* ctx, const v1::SubmitBuildRequest* req,
                           v1::SubmitBuildResponse* resp) override;
  grpc::Status GetBuild(grpc::ServerContext* ctx, const v1::GetBuildRequest* req,
                        v1::Build* resp) override;
  grpc::Status ListBuilds(grpc::ServerContext* ctx, const v1::ListBuildsRequest* req,
                          v1::ListBuildsResponse* resp) override;
  grpc::Status CancelBuild(grpc::ServerContext* ctx, const v1::CancelBuildRequest* req,
                           v1::Build* resp) override;
  grpc::Status SetQueuePaused(grpc::ServerContext* ctx, const v1::SetQueuePausedRequest* req,
                              v1::QueueStatus* resp) override;
  grpc::Status WatchBuild(grpc::ServerContext* ctx, const v1::WatchBuildRequest* req,
                          grpc::ServerWriter<v1::BuildEvent>* writer) override;
  grpc::Status FetchArtifact(grpc::ServerContext* ctx, const v1::FetchArtifactRequest* req,
                             grpc::ServerWriter<v1::FetchArtifactResponse>* writer) override;
  grpc::Status GetDebugBundle(grpc::ServerContext* ctx, const v1::GetDebugBundleRequest* req,
                              grpc::ServerWriter<v1::FetchArtifactResponse>* writer) override;

 private:
  // Build `id` when `caller` owns it or is an admin; PERMISSION_DENIED
  // (logged by Admins, naming `action` + the id) otherwise.
  absl::StatusOr<v1::Build> OwnedBuild(const auth::Caller& caller, const std::string& id,
                                       absl::string_view action);

  lifecycle::BuildManager* manager_;
  store::Store* store_;
  const artifacts::ArtifactStore* artifacts_;
  auth::Authenticator* auth_;
  const int max_priority_;
  const std::atomic<bool>* shutting_down_;
  metrics::Recorder* metrics_;
};


}  // namespace sfactory::service
