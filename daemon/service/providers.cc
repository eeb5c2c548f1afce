#include "daemon/service/providers.h"

#include "absl/strings/str_cat.h"
#include "daemon/packaging/archive.h"
#include "daemon/packaging/package.h"
#include "common/status.h"
#include "daemon/provider/local_provider.h"
#include "daemon/provider/lxd/lxd_options.h"
#include "daemon/provider/lxd/lxd_provider.h"
#include "common/logging.h"

namespace sfactory::service {

absl::StatusOr<std::unique_ptr<provider::Provider>> MakeProvider(const config::Config& config) {
  auto local = [&] { return provider::MakeLocalProvider(config.state_dir / "work" / "local", config.default_os); };
  if (config.provider == config::ProviderKind::kLocal) return local();
  // A broken `lxd:` section is an error even for `auto`: the operator meant it.
  SF_ASSIGN_OR_RETURN(provider::lxd::LxdOptions options,
                      provider::lxd::ParseLxdOptions(config.lxd_source, config.lxd));
  if (config.provider == config::ProviderKind::kAuto && !provider::lxd::LxdAnswers(options)) {
    const std::string installed = provider::lxd::LxdInstalledBecause(options);
    if (installed.empty()) {
      spdlog::info("LXD is not installed on this host; using the local provider (set "
                   "`provider: local` to say so, or install LXD: scripts/lxd-setup.sh)");
      return local();
    }
    // Never run recipes on the host because LXD was slow to start.
    spdlog::warn("LXD is installed ({}) but does not answer yet; builds wait for it (`sfactory "
                 "info` shows why). Set `provider: local` to build on this host instead",
                 installed);
  }
  return provider::lxd::MakeLxdProvider(options, config.cache_dir / "lxd");
}

absl::Status ValidateProviderConfig(const config::Config& config) {
  return provider::lxd::ParseLxdOptions(config.lxd_source, config.lxd).status();
}

runner::PackageFn MakePackageFn(const config::Config& config) {
  packaging::Compression compression = config.compression == config::CompressionKind::kGzip
                                           ? packaging::Compression::kGzip
                                           : packaging::Compression::kZstd;
  std::filesystem::path templates = config.data_dir / "modules";
  int64_t epoch = config.source_date_epoch;
  return [=](const runner::PackageInput& in,
             const runner::LogFn& log) -> absl::StatusOr<std::vector<runner::PackageOutput>> {
    packaging::PackageRequest req;
    req.tree_tar = in.tree_tar;
    req.work_dir = in.work_dir;
    req.out_dir = in.out_dir;
    req.module_templates_dir = templates;
    req.package_name = in.package_name;
    req.spec = in.spec;
    req.build_id = in.build_id;
    req.digest = in.digest;
    req.install_prefix = in.install_prefix;
    req.compression = compression;
    req.source_date_epoch = epoch;
    req.phases = in.phases;
    req.sources = in.sources;
    auto result = packaging::Package(req, log);
    if (!result.ok()) return result.status();
    std::vector<runner::PackageOutput> out;
    for (const auto& f : result->files) out.push_back({f.path, f.kind});
    return out;
  };
}

runner::BundleFn MakeBundleFn(const config::Config& config) {
  packaging::ArchiveOptions options;
  options.compression = packaging::Compression::kGzip;
  options.mtime = config.source_date_epoch;
  return [options](const std::filesystem::path& root,
                   const std::filesystem::path& out) -> absl::Status {
    return packaging::WriteDeterministicArchive(root, out, options).status();
  };
}

}  // namespace sfactory::service
