#include "daemon/service/info_service.h"

#ifndef SFACTORY_VERSION
#define SFACTORY_VERSION "0.0.0"
#endif

#include "daemon/service/calls.h"

namespace sfactory::service {

grpc::Status ServerInfoServiceImpl::GetServerInfo(grpc::ServerContext* ctx,
                                                  const v1::GetServerInfoRequest*,
                                                  v1::ServerInfo* resp) {
  SF_AUTHENTICATED_OR_RETURN(*deps_.auth, *ctx);
  resp->set_version(SFACTORY_VERSION);
  resp->set_provider(deps_.provider->name());
  // Ask the provider now: `sfactory info` is how an operator checks a fix.
  absl::Status s = deps_.provider->Check();
  if (!s.ok()) resp->set_provider_problem(std::string(s.message()));
  for (const auto* r : deps_.recipes->All()) {
    auto* info = resp->add_recipes();
    info->set_name(r->name);
    info->set_description(r->description);
    for (const auto& v : r->variants) info->add_variants(v);
  }
  for (const auto& series : deps_.catalog->series()) {
    auto* out = resp->add_slurm_series();
    out->set_series(series.series);
    out->set_pinned(series.pinned);
    out->set_end_of_support(series.end_of_support);
    out->set_past_end_of_support(PastEndOfSupport(series.end_of_support, absl::Now()));
    for (const auto& rel : series.releases) {
      out->add_releases(rel.version);
      auto* detail = out->add_release_details();
      detail->set_version(rel.version);
      detail->set_origin(rel.origin);
      for (const auto& f : rel.sources) detail->add_sources(f.name);
    }
  }
  resp->set_max_parallel_builds(deps_.max_parallel_builds);
  resp->set_running_builds(deps_.manager->running());
  resp->set_queued_builds(deps_.manager->queued());
  *resp->mutable_queue() = deps_.manager->queue_status();
  resp->set_disk_problem(deps_.manager->disk_problem());
  resp->set_default_recipe(deps_.default_recipe);
  resp->set_default_os(deps_.default_os);
  resp->set_default_arch(deps_.default_arch);
  return grpc::Status::OK;
}

}  // namespace sfactory::service
