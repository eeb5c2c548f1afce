#include "daemon/service/other_services.h"

#include <regex>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/grpc_status.h"
#include "common/sha256.h"
#include "common/logging.h"

#ifndef SFACTORY_VERSION
#define SFACTORY_VERSION "0.0.0"
#endif

namespace sfactory::service {

grpc::Status ServerInfoServiceImpl::GetServerInfo(grpc::ServerContext*,
                                                  const v1::GetServerInfoRequest*,
                                                  v1::ServerInfo* resp) {
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
    for (const auto& rel : series.releases) out->add_releases(rel.version);
  }
  resp->set_max_parallel_builds(deps_.max_parallel_builds);
  resp->set_running_builds(deps_.manager->running());
  resp->set_queued_builds(deps_.manager->queued());
  resp->set_disk_problem(deps_.manager->disk_problem());
  resp->set_default_recipe(deps_.default_recipe);
  resp->set_default_os(deps_.default_os);
  resp->set_default_arch(deps_.default_arch);
  return grpc::Status::OK;
}

grpc::Status SourceServiceImpl::AddSource(grpc::ServerContext*,
                                          grpc::ServerReader<v1::AddSourceRequest>* reader,
                                          v1::Source* resp) {
  v1::AddSourceRequest msg;
  if (!reader->Read(&msg) || !msg.has_header()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the first AddSource message must be a header with the file name");
  }
  v1::Source header = msg.header();
  static const std::regex kName(R"(^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$)");
  if (!std::regex_match(header.name(), kName)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "source name must be a plain file name (letters, digits, . _ + -)");
  }
  if (!header.sha256().empty() && !IsSha256Hex(header.sha256())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "sha256 must be 64 lower-case hex digits");
  }
  bool bad_message = false;
  auto source = cache_->Add(header.name(), header.sha256(),
                            [&](std::string* chunk) -> absl::StatusOr<bool> {
                              v1::AddSourceRequest part;
                              if (!reader->Read(&part)) return false;
                              if (part.part_case() != v1::AddSourceRequest::kData) {
                                bad_message = true;
                                return absl::InvalidArgumentError("only data messages may follow the header");
                              }
                              *chunk = std::move(*part.mutable_data());
                              return true;
                            });
  if (!source.ok()) {
    if (!bad_message && !absl::IsInvalidArgument(source.status())) {
      spdlog::error("AddSource {}: {}", header.name(), source.status().message());
    }
    return ToGrpcStatus(source.status());
  }
  spdlog::info("source {} added (sha256 {}, {} bytes)", source->name(), source->sha256(), source->size());
  *resp = std::move(*source);
  return grpc::Status::OK;
}

grpc::Status SourceServiceImpl::ListSources(grpc::ServerContext*, const v1::ListSourcesRequest*,
                                            v1::ListSourcesResponse* resp) {
  auto list = store_->ListSources();
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (auto& s : *list) *resp->add_sources() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status ImageServiceImpl::ListBaseImages(grpc::ServerContext*, const v1::ListBaseImagesRequest*,
                                              v1::ListBaseImagesResponse* resp) {
  auto images = provider_->ListBaseImages();
  if (!images.ok()) return ToGrpcStatus(images.status());
  for (auto& i : *images) *resp->add_images() = std::move(i);
  return grpc::Status::OK;
}

grpc::Status ImageServiceImpl::RebuildBaseImage(grpc::ServerContext*,
                                                const v1::RebuildBaseImageRequest* req,
                                                v1::BaseImage* resp) {
  v1::BuildSpec spec;
  spec.set_recipe(req->recipe().empty() ? defaults_.recipe : req->recipe());
  spec.set_os(req->os().empty() ? defaults_.os : req->os());
  spec.set_arch(req->arch().empty() ? defaults_.arch : req->arch());
  const recipe::Recipe* r = recipes_->Find(spec.recipe());
  if (!r) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unknown recipe '" + spec.recipe() + "'");
  }
  auto image = provider_->RebuildBaseImage(spec, r->packages);
  if (!image.ok()) return ToGrpcStatus(image.status());
  *resp = std::move(*image);
  return grpc::Status::OK;
}

grpc::Status ImageServiceImpl::PruneBaseImages(grpc::ServerContext*,
                                               const v1::PruneBaseImagesRequest* req,
                                               v1::PruneBaseImagesResponse* resp) {
  auto removed = provider_->PruneBaseImages(req->all());
  if (!removed.ok()) return ToGrpcStatus(removed.status());
  for (auto& i : *removed) *resp->add_removed() = std::move(i);
  return grpc::Status::OK;
}

grpc::Status CacheServiceImpl::GetUsage(grpc::ServerContext*, const v1::GetUsageRequest*,
                                        v1::CacheUsage* resp) {
  const std::filesystem::path& state = deps_.state_dir;
  const std::filesystem::path& cache = deps_.cache_dir;
  struct Area {
    const char* name;
    std::vector<std::filesystem::path> paths;
    const char* description;
  };
  const std::vector<Area> areas = {
      {"database",
       {state / "sfactory.db", state / "sfactory.db-wal", state / "sfactory.db-shm"},
       "builds, events, attempts, artifacts and sources index (SQLite)"},
      {"artifacts", {state / "artifacts"}, "finished builds' files, by sha256"},
      {"logs", {state / "logs"}, "build logs"},
      {"work", {state / "work"}, "scratch of running builds, local-provider instances"},
      {"sources", {cache / "sources"}, "source tarballs, by sha256"},
      {"ccache", {cache / "ccache"}, "compiler cache shared by all builds (ccache bounds it)"},
      {"lxd", {cache / "lxd"}, "base-image build scratch and debootstrap cache"},
  };
  for (const Area& area : areas) {
    v1::CacheArea* out = resp->add_areas();
    out->set_name(area.name);
    out->set_path(area.paths.front().string());
    out->set_description(area.description);
    for (const auto& path : area.paths) {
      absl::StatusOr<DiskUsage> usage = DirUsage(path);
      if (!usage.ok()) return ToGrpcStatus(usage.status());
      out->set_bytes(out->bytes() + usage->bytes);
      out->set_files(out->files() + usage->files);
    }
  }
  // Base images live in the provider's storage (for LXD, its storage pool).
  if (auto images = deps_.provider->ListBaseImages(); images.ok() && !images->empty()) {
    v1::CacheArea* out = resp->add_areas();
    out->set_name("base-images");
    out->set_path(absl::StrCat("provider ", deps_.provider->name()));
    out->set_description("the provider's base images (sfactory images list|prune)");
    for (const auto& image : *images) {
      out->set_bytes(out->bytes() + image.size());
      out->set_files(out->files() + 1);
    }
  }
  if (auto free = FreeBytes(state); free.ok()) resp->set_state_fs_free(*free);
  if (auto size = FilesystemBytes(state); size.ok()) resp->set_state_fs_size(*size);
  resp->set_min_free_space(deps_.min_free_space);
  resp->set_disk_problem(deps_.manager->disk_problem());
  return grpc::Status::OK;
}

}  // namespace sfactory::service
