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

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/status.h"
#include "daemon/artifacts/artifact_store.h"
#include "daemon/lifecycle/build_manager.h"
#include "daemon/runner/runner.h"
#include "daemon/cache/source_cache.h"
#include "daemon/service/build_service.h"
#include "daemon/service/cache_service.h"
#include "daemon/service/image_service.h"
#include "daemon/service/info_service.h"
#include "daemon/service/providers.h"
#include "daemon/service/source_service.h"
#include "daemon/store/store.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server_builder.h"
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

// Prepares the directory of a unix socket: only the owner and the socket
// group may enter it. A stale socket is removed; a live one is an error.
absl::Status PrepareUnixSocket(const fs::path& socket, const std::string& group) {
  fs::path dir = socket.parent_path();
  SF_RETURN_IF_ERROR(MakeDirs(dir, 0750));
  if (struct group* g = group.empty() ? nullptr : ::getgrnam(group.c_str())) {
    if (::chown(dir.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
      spdlog::warn("cannot give {} to group {}: {}", dir.string(), group, std::strerror(errno));
    }
  } else {
    ::chmod(dir.c_str(), 0700);
  }
  std::error_code ec;
  if (!fs::exists(socket, ec)) return absl::OkStatus();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::string s = socket.string();
  if (s.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return absl::InvalidArgumentError("socket path too long: " + s);
  }
  std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);
  bool live = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  if (live) {
    return absl::FailedPreconditionError(
        absl::StrCat("another process is listening on ", s, "; stop it or use another listen address"));
  }
  fs::remove(socket, ec);
  return absl::OkStatus();
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
  SF_ASSIGN_OR_RETURN(Catalog catalog, Catalog::LoadFile(config.catalog));
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
  cache::SourceCache sources(config.cache_dir / "sources", store.get(), &catalog);
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
  deps.work_root = state / "work" / "host";
  deps.ccache_dir = config.cache_dir / "ccache";
  deps.build_jobs = config.build_jobs > 0 ? config.build_jobs
                                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  deps.instance_cpus = config.instance_cpus;
  deps.instance_memory_bytes = config.instance_memory_bytes;
  deps.allow_downloads = config.allow_downloads;
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
  lifecycle::BuildManager manager(mo, store.get(), provider.get(), &recipes, &catalog, &runner,
                              Clock::Real());
  SF_RETURN_IF_ERROR(manager.Start());

  std::atomic<bool> shutting_down{false};
  BuildServiceImpl build_service(&manager, store.get(), &artifacts, &shutting_down);
  ServerInfoServiceImpl info_service({&manager, provider.get(), &recipes, &catalog,
                                      config.max_parallel_builds, config.default_recipe,
                                      config.default_os, config.default_arch});
  SourceServiceImpl source_service(&sources, store.get());
  ImageServiceImpl image_service(provider.get(), &recipes, mo.defaults);
  CacheServiceImpl cache_service({&manager, provider.get(), state, config.cache_dir,
                                  config.min_free_space_bytes});

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::vector<fs::path> sockets;
  for (const auto& address : config.listen) {
    if (absl::StartsWith(address, "unix:")) {
      fs::path socket = address.substr(5);
      SF_RETURN_IF_ERROR(PrepareUnixSocket(socket, config.socket_group));
      sockets.push_back(socket);
    }
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  }
  builder.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  builder.RegisterService(&build_service);
  builder.RegisterService(&info_service);
  builder.RegisterService(&source_service);
  builder.RegisterService(&image_service);
  builder.RegisterService(&cache_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    manager.Shutdown();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", absl::StrJoin(config.listen, ", "),
                                               " (address in use, or a directory missing?)"));
  }
  for (const auto& s : sockets) ::chmod(s.c_str(), 0660);
  spdlog::info("sfactoryd listening on {}", absl::StrJoin(config.listen, ", "));

  int sig = WaitForSignal();
  spdlog::info("received {}; shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  shutting_down = true;
  server->GetHealthCheckService()->SetServingStatus(false);
  // Watchers notice within a second and end with UNAVAILABLE (resumable).
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  manager.Shutdown();
  for (const auto& s : sockets) {
    std::error_code ec;
    fs::remove(s, ec);
  }
  spdlog::info("sfactoryd stopped");
  return absl::OkStatus();
}

}  // namespace sfactory::service
