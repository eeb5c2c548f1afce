#include "daemon/service/daemon.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/notification.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/status.h"
#include "daemon/artifacts/artifact_store.h"
#include "daemon/lifecycle/build_manager.h"
#include "daemon/runner/runner.h"
#include "daemon/cache/source_cache.h"
#include "daemon/auth/admins.h"
#include "daemon/auth/authenticator.h"
#include "daemon/service/auth_service.h"
#include "daemon/service/build_service.h"
#include "daemon/service/server.h"
#include "daemon/service/cache_service.h"
#include "daemon/service/image_service.h"
#include "daemon/service/info_service.h"
#include "daemon/service/providers.h"
#include "daemon/service/source_service.h"
#include "daemon/metrics/exporter.h"
#include "daemon/store/store.h"
#include "common/logging.h"

namespace sfactory::service {
namespace fs = std::filesystem;
namespace {

// Holds an exclusive lock on <state_dir>/sfactoryd.lock for the daemon's life.
absl::StatusOr<Fd> LockStateDir(const fs::path& state_dir) {
  fs::path path = state_dir / "sfactoryd.lock";
  SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(path, O_RDWR | O_CREAT, 0600));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "another sfactoryd already uses the state directory ", state_dir.string(),
        " (", path.string(), " is locked); stop it first or give this one its own state_dir"));
  }
  return fd;
}

int WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace

absl::Status RunDaemon(const config::Config& config) {
  // Every thread inherits this mask; the main thread takes the signals.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  const fs::path& state = config.state_dir;
  for (const fs::path& d : {state, state / "logs", state / "work", config.cache_dir,
                            config.cache_dir / "ccache"}) {
    SF_RETURN_IF_ERROR(Annotate(MakeDirs(d, 0750), "prepare state directories"));
  }
  SF_ASSIGN_OR_RETURN(Fd lock, LockStateDir(state));
  SF_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store, store::Store::Open(state / "sfactory.db"));
  SF_ASSIGN_OR_RETURN(Catalog catalog, Catalog::Load(config.catalog, config.catalog_dirs));
  SF_ASSIGN_OR_RETURN(recipe::RecipeSet recipes, recipe::RecipeSet::Load(config.recipe_dirs));
  if (recipes.All().empty()) {
    std::vector<std::string> dirs;
    for (const auto& d : config.recipe_dirs) dirs.push_back(d.string());
    return absl::FailedPreconditionError(absl::StrCat(
        "no recipes found in ", absl::StrJoin(dirs, ", "),
        "; check data_dir / recipe_dirs (sfactoryd --show-config)"));
  }
  if (!recipes.Find(config.default_recipe)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "default_recipe '", config.default_recipe, "' is not among the loaded recipes"));
  }
  // The metrics endpoint, when configured, is told about events from here on;
  // its scrape-time values are wired once the parts exist (below).
  // Read at scrape time; set once the build manager exists.
  std::atomic<lifecycle::BuildManager*> live_manager{nullptr};
  std::atomic<CacheDeps*> live_usage{nullptr};
  std::unique_ptr<metrics::Exporter> exporter;
  metrics::ScrapeSources scrape;
  if (!config.metrics_listen.empty()) {
    scrape.queued = [&] { auto* m = live_manager.load(); return m ? m->queued() : 0; };
    scrape.running = [&] { auto* m = live_manager.load(); return m ? m->running() : 0; };
    scrape.provider_up = [&] {
      auto* m = live_manager.load();
      return m != nullptr && m->provider_problem().empty();
    };
    scrape.cache_usage = [&]() -> absl::StatusOr<std::vector<metrics::AreaUsage>> {
      CacheDeps* deps = live_usage.load();
      if (deps == nullptr) return std::vector<metrics::AreaUsage>{};
      SF_ASSIGN_OR_RETURN(v1::CacheUsage usage, MeasureUsage(*deps));
      std::vector<metrics::AreaUsage> areas;
      for (const auto& a : usage.areas()) areas.push_back({a.name(), a.bytes(), a.files()});
      return areas;
    };
    scrape.ccache_dir = config.cache_dir / "ccache";
    SF_ASSIGN_OR_RETURN(exporter, metrics::Exporter::Start(config.metrics_listen, SFACTORY_VERSION,
                                                          std::move(scrape)));
    spdlog::info("metrics on http://{}/metrics", config.metrics_listen);
  }
  metrics::Recorder* recorder = exporter ? exporter.get() : &metrics::NullRecorder();
  cache::DownloadPolicy downloads;
  downloads.max_bytes = config.max_source_size;
  cache::SourceCache sources(config.cache_dir / "sources", store.get(), &catalog, Env::Default(),
                             recorder, downloads);
  SF_RETURN_IF_ERROR(sources.Init());
  artifacts::ArtifactStore artifacts(state / "artifacts");
  SF_RETURN_IF_ERROR(artifacts.Init());
  SF_ASSIGN_OR_RETURN(std::unique_ptr<provider::Provider> provider, MakeProvider(config));
  spdlog::info("provider: {}", provider->name());

  runner::RunnerDeps deps;
  deps.provider = provider.get();
  deps.sources = &sources;
  deps.artifacts = &artifacts;
  deps.package = MakePackageFn(config);
  deps.write_bundle = MakeBundleFn(config);
  deps.effective_config = runner::RedactConfigText(config::Describe(config));
  deps.work_root = state / "work" / "host";
  deps.ccache_dir = config.cache_dir / "ccache";
  deps.build_jobs = config.build_jobs > 0 ? config.build_jobs
                                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  deps.instance_cpus = config.instance_cpus;
  deps.instance_memory_bytes = config.instance_memory_bytes;
  deps.allow_downloads = config.allow_downloads;
  deps.max_build_time = config.max_build_time == absl::ZeroDuration() ? absl::InfiniteDuration()
                                                                      : config.max_build_time;
  deps.max_log_size = config.max_log_size_bytes;
  runner::Runner runner(deps);

  lifecycle::ManagerOptions mo;
  mo.log_dir = state / "logs";
  mo.space_dir = state;
  mo.min_free_bytes = config.min_free_space_bytes;
  mo.max_parallel_builds = config.max_parallel_builds;
  mo.retry_cap = config.retry_cap;
  mo.priority_aging = absl::Seconds(config.priority_aging_seconds);
  mo.queue_paused = config.queue_paused;
  mo.verify_by_default = config.verify_by_default;
  mo.defaults = {config.default_recipe, config.default_os, config.default_arch};
  mo.metrics = recorder;
  mo.pause_file = state / "queue-paused";
  lifecycle::BuildManager manager(mo, store.get(), provider.get(), &recipes, &catalog, &runner,
                              Clock::Real());
  SF_RETURN_IF_ERROR(manager.Start());

  SF_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<auth::UnixListener>> unix,
                      BindUnixListeners(config));
  std::vector<const auth::UnixListener*> unix_peers;
  for (const auto& l : unix) unix_peers.push_back(l.get());
  auth::Admins admins({config.admins.users, config.admins.groups});
  auth::Authenticator authenticator(unix_peers, store.get(), &admins, Clock::Real());

  std::atomic<bool> shutting_down{false};
  BuildServiceImpl build_service(&manager, store.get(), &artifacts, &authenticator,
                                 config.max_priority, &shutting_down, recorder);
  ServerInfoServiceImpl info_service({&manager, provider.get(), &recipes, &catalog,
                                      config.max_parallel_builds, config.default_recipe,
                                      config.default_os, config.default_arch, &authenticator});
  SourceServiceImpl source_service(&sources, store.get(), &catalog, &authenticator,
                                   config.max_source_size);
  ImageServiceImpl image_service(provider.get(), &recipes, mo.defaults, &authenticator);
  CacheDeps usage_deps{&manager, provider.get(), state, config.cache_dir,
                       config.min_free_space_bytes, &authenticator};
  CacheServiceImpl cache_service(usage_deps);
  live_manager = &manager;
  live_usage = &usage_deps;
  // Whatever way this function returns, scrapes stop before the parts they
  // read are destroyed.
  absl::Cleanup stop_metrics = [&] {
    exporter.reset();
    live_manager = nullptr;
    live_usage = nullptr;
  };
  AuthServiceImpl auth_service(&authenticator, store.get(), Clock::Real());

  absl::StatusOr<Server> server = StartServer(
      config, std::move(unix),
      {{v1::BuildService::service_full_name(), &build_service},
       {v1::ServerInfoService::service_full_name(), &info_service},
       {v1::SourceService::service_full_name(), &source_service},
       {v1::ImageService::service_full_name(), &image_service},
       {v1::CacheService::service_full_name(), &cache_service},
       {v1::AuthService::service_full_name(), &auth_service}},
      exporter ? exporter.get() : nullptr);
  if (!server.ok()) {
    manager.Shutdown();
    return server.status();
  }
  spdlog::info("sfactoryd listening on {}", absl::StrJoin(config.listen, ", "));

  // grpc.health.v1: the build service is NOT_SERVING while the provider is
  // not usable (builds would only queue); the other services keep serving.
  absl::Notification stop_health;
  std::thread health([&] {
    bool serving = true;
    do {
      bool usable = manager.provider_problem().empty();
      if (usable != serving) {
        server->grpc->GetHealthCheckService()->SetServingStatus(
            v1::BuildService::service_full_name(), usable);
        serving = usable;
      }
    } while (!stop_health.WaitForNotificationWithTimeout(absl::Seconds(2)));
  });

  int sig = WaitForSignal();
  stop_health.Notify();
  health.join();
  spdlog::info("received {}; shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  shutting_down = true;
  // Watchers notice within a second and end with UNAVAILABLE (resumable).
  server->Shutdown(absl::Seconds(5));
  manager.Shutdown();
  spdlog::info("sfactoryd stopped");
  return absl::OkStatus();
}

}  // namespace sfactory::service
