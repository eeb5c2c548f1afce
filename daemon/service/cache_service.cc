#include "daemon/service/cache_service.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/grpc_status.h"

#include "daemon/service/calls.h"

namespace sfactory::service {

absl::StatusOr<v1::CacheUsage> MeasureUsage(const CacheDeps& deps) {
  v1::CacheUsage usage_out;
  v1::CacheUsage* resp = &usage_out;
  const std::filesystem::path& state = deps.state_dir;
  const std::filesystem::path& cache = deps.cache_dir;
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
      if (!usage.ok()) return usage.status();
      out->set_bytes(out->bytes() + usage->bytes);
      out->set_files(out->files() + usage->files);
    }
  }
  // Base images live in the provider's storage (for LXD, its storage pool).
  if (auto images = deps.provider->ListBaseImages(); images.ok() && !images->empty()) {
    v1::CacheArea* out = resp->add_areas();
    out->set_name("base-images");
    out->set_path(absl::StrCat("provider ", deps.provider->name()));
    out->set_description("the provider's base images (sfactory images list|prune)");
    for (const auto& image : *images) {
      out->set_bytes(out->bytes() + image.size());
      out->set_files(out->files() + 1);
    }
  }
  if (auto free = FreeBytes(state); free.ok()) resp->set_state_fs_free(*free);
  if (auto size = FilesystemBytes(state); size.ok()) resp->set_state_fs_size(*size);
  resp->set_min_free_space(deps.min_free_space);
  resp->set_disk_problem(deps.manager->disk_problem());
  return usage_out;
}

grpc::Status CacheServiceImpl::GetUsage(grpc::ServerContext* ctx, const v1::GetUsageRequest*,
                                        v1::CacheUsage* resp) {
  SF_AUTHENTICATED_OR_RETURN(*deps_.auth, *ctx);
  absl::StatusOr<v1::CacheUsage> usage = MeasureUsage(deps_);
  if (!usage.ok()) return Reply(usage.status(), "GetUsage");
  *resp = *std::move(usage);
  return grpc::Status::OK;
}

}  // namespace sfactory::service
