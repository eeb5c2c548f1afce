#include "daemon/provider/lxd/lxd_provider.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fs.h"
#include "common/status.h"
#include "daemon/provider/lxd/lxd_instance.h"

namespace sfactory::provider::lxd {
namespace {

constexpr char kBuildIdKey[] = "user.sfactory.build-id";
constexpr char kPurposeKey[] = "user.sfactory.purpose";

const char kStartHint[] =
    "start it with `systemctl start lxd` (or `lxd --group root --logfile /var/log/lxd.log &` on "
    "hosts without systemd; scripts/lxd-setup.sh installs, starts and initialises it), then "
    "`sfactory info`";

class NullSink : public OutputSink {
 public:
  void Write(absl::string_view) override {}
};

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Checks the unix socket itself, which gives clearer advice than curl's error.
absl::Status CheckSocket(const std::string& socket) {
  struct stat st;
  if (::stat(socket.c_str(), &st) != 0) {
    if (errno == EACCES) {
      return absl::FailedPreconditionError(absl::StrCat(
          "LXD socket ", socket, ": permission denied: add the daemon's user to the lxd group "
          "(`usermod -aG lxd <user>`) and restart sfactoryd"));
    }
    return absl::UnavailableError(absl::StrCat(
        "LXD is not running or not installed: its socket ", socket, " does not exist; ",
        kStartHint, ". If LXD listens elsewhere, set lxd.socket in the config"));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("lxd.socket ", socket, " is not a unix socket"));
  }
  if (::access(socket.c_str(), R_OK | W_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "permission denied on the LXD socket ", socket, ": add the daemon's user to the lxd group "
        "(`usermod -aG lxd <user>`; the socket belongs to group ",
        st.st_gid, ") and restart sfactoryd"));
  }
  return absl::OkStatus();
}

}  // namespace

LxdProvider::LxdProvider(const LxdOptions& options, std::unique_ptr<LxdClient> client,
                         std::filesystem::path work_dir)
    : options_(options),
      client_(std::move(client)),
      pool_(std::make_unique<BasePool>(*client_, options, std::move(work_dir))),
      op_timeout_(options.operation_timeout_seconds) {}

absl::StatusOr<std::unique_ptr<LxdProvider>> LxdProvider::Make(
    const LxdOptions& options, const std::filesystem::path& cache_dir) {
  SF_ASSIGN_OR_RETURN(std::unique_ptr<LxdClient> client, LxdClient::Create(EndpointFor(options)));
  return std::unique_ptr<LxdProvider>(new LxdProvider(options, std::move(client), cache_dir / "lxd"));
}

absl::StatusOr<std::unique_ptr<Provider>> MakeLxdProvider(const LxdOptions& options,
                                                          const std::filesystem::path& cache_dir) {
  SF_ASSIGN_OR_RETURN(std::unique_ptr<LxdProvider> p, LxdProvider::Make(options, cache_dir));
  return std::unique_ptr<Provider>(std::move(p));
}

bool LxdAnswers(const LxdOptions& options) {
  LxdEndpoint ep = EndpointFor(options);
  ep.connect_timeout = std::chrono::seconds(2);
  ep.request_timeout = std::chrono::seconds(5);
  absl::StatusOr<std::unique_ptr<LxdClient>> client = LxdClient::Create(ep);
  if (!client.ok()) return false;
  return (*client)->Sync("GET", "/1.0", Json(), "probe").ok();
}

std::string LxdInstalledBecause(const LxdOptions& options) {
  if (!options.url.empty()) return absl::StrCat("the config names LXD at ", options.url);
  if (!options.socket.empty()) return absl::StrCat("the config names the LXD socket ", options.socket);
  struct stat st;
  const std::string socket = FindLxdSocket();
  if (::stat(socket.c_str(), &st) == 0) return absl::StrCat(socket, " exists");
  for (const char* path : {"/usr/bin/lxd", "/usr/sbin/lxd", "/usr/local/bin/lxd", "/snap/bin/lxd",
                           "/var/lib/lxd", "/var/snap/lxd"}) {
    if (::stat(path, &st) == 0) return absl::StrCat(path, " exists");
  }
  return "";
}

std::string LxdProvider::InstanceName(const std::string& build_id, InstancePurpose purpose) {
  std::string id;
  for (char c : absl::AsciiStrToLower(build_id)) {
    id.push_back(absl::ascii_isalnum(static_cast<unsigned char>(c)) ? c : '-');
  }
  std::string name = absl::StrCat("sf-", id);
  if (purpose == InstancePurpose::kVerify) absl::StrAppend(&name, "-verify");
  // LXD names are at most 63 characters.
  if (name.size() > 63) name.resize(63);
  while (!name.empty() && name.back() == '-') name.pop_back();
  return name;
}

CreateTimings LxdProvider::last_create_timings() const {
  absl::MutexLock lock(&mu_);
  return last_timings_;
}

absl::StatusOr<std::string> LxdProvider::Setup() {
  {
    absl::MutexLock lock(&mu_);
    if (!storage_pool_.empty()) return storage_pool_;
  }
  const std::string& project = options_.project;
  absl::StatusOr<Json> p = client_->Sync("GET", absl::StrCat("/1.0/projects/", project), Json(),
                                         absl::StrCat("read project ", project));
  if (absl::IsNotFound(p.status())) {
    // Own images and profiles: nothing of ours shows up in other projects,
    // and the project's default profile is ours to shape (empty at first).
    Json body{{"name", project},
              {"description", "sfactory build containers and base images"},
              {"config",
               {{"features.images", "true"},
                {"features.profiles", "true"},
                {"features.storage.volumes", "true"}}}};
    absl::StatusOr<Json> created =
        client_->Sync("POST", "/1.0/projects", body, absl::StrCat("create project ", project));
    if (!created.ok() && !absl::IsAlreadyExists(created.status())) {
      return Annotate(created.status(),
                      absl::StrCat("cannot create the LXD project ", project,
                                   " (create it by hand: `lxc project create ", project, "`)"));
    }
  } else if (!p.ok()) {
    return p.status();
  }

  SF_ASSIGN_OR_RETURN(Json pools,
                      client_->Sync("GET", "/1.0/storage-pools", Json(), "list storage pools"));
  std::vector<std::string> names;
  if (pools.is_array()) {
    for (const Json& url : pools) {
      std::string s = url.get<std::string>();
      names.push_back(s.substr(s.rfind('/') + 1));
    }
  }
  std::string chosen;
  if (!options_.storage_pool.empty()) {
    if (std::find(names.begin(), names.end(), options_.storage_pool) == names.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "LXD storage pool '", options_.storage_pool, "' (lxd.storage_pool) does not exist; "
          "`lxc storage list` shows the pools, `lxc storage create ", options_.storage_pool,
          " dir` makes one"));
    }
    chosen = options_.storage_pool;
  } else if (std::find(names.begin(), names.end(), "default") != names.end()) {
    chosen = "default";
  } else if (!names.empty()) {
    chosen = names.front();
  } else {
    return absl::FailedPreconditionError(
        "LXD has no storage pool: create one with `lxc storage create default dir` "
        "(scripts/lxd-setup.sh does this), then `sfactory info`");
  }
  absl::MutexLock lock(&mu_);
  storage_pool_ = chosen;
  return chosen;
}

absl::Status LxdProvider::Check() {
  if (options_.url.empty()) SF_RETURN_IF_ERROR(CheckSocket(client_->endpoint().socket));
  absl::StatusOr<Json> server = client_->Sync("GET", "/1.0", Json(), "read server info");
  if (!server.ok()) {
    if (absl::IsUnavailable(server.status()) || absl::IsDeadlineExceeded(server.status())) {
      if (options_.url.empty()) {
        return absl::UnavailableError(absl::StrCat("LXD is not running (", server.status().message(),
                                                   "): ", kStartHint));
      }
      return absl::UnavailableError(absl::StrCat(
          "LXD at ", options_.url, " does not answer (", server.status().message(),
          "): check that it listens there (`lxc config get core.https_address` on the server) "
          "and that the certificate files are right"));
    }
    if (absl::IsPermissionDenied(server.status())) {
      return absl::FailedPreconditionError(
          absl::StrCat(server.status().message(),
                       options_.url.empty()
                           ? ": add the daemon's user to the lxd group"
                           : ": the server does not trust lxd.client_cert; on the server run "
                             "`lxc config trust add <client cert>`"));
    }
    return server.status();
  }
  if (server->value("auth", "") != "trusted") {
    return absl::FailedPreconditionError(absl::StrCat(
        "LXD at ", client_->Describe(), " does not trust this client (",
        options_.url.empty() ? "add the daemon's user to the lxd group"
                             : "on the server run `lxc config trust add <lxd.client_cert>`",
        ")"));
  }
  return Setup().status();
}

absl::StatusOr<std::unique_ptr<Instance>> LxdProvider::Create(const InstanceRequest& request,
                                                              OutputSink& log,
                                                              CancelToken& cancel) {
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  CreateTimings timings;
  SF_ASSIGN_OR_RETURN(std::string storage_pool, Setup());
  const bool build = request.purpose == InstancePurpose::kBuild;
  const std::string name = InstanceName(request.build_id, request.purpose);
  if (request.build_id.empty()) return absl::InvalidArgumentError("lxd: empty build id");

  BaseDefinition base = DefineBase(request.spec, request.packages, options_);
  SF_ASSIGN_OR_RETURN(std::string fingerprint, pool_->Ensure(base, storage_pool, log, cancel));
  timings.base = Seconds(Clock::now() - t0);
  if (cancel.cancelled()) return absl::CancelledError(absl::StrCat("lxd: create ", name, ": cancelled"));

  // A leftover from a crash with the same name would make the copy fail.
  SF_RETURN_IF_ERROR(DeleteInstance(*client_, name, op_timeout_));

  Json config{{kBuildIdKey, request.build_id}, {kPurposeKey, build ? "build" : "verify"}};
  int cpus = request.cpus > 0 ? request.cpus : options_.cpus;
  uint64_t memory = request.memory_bytes > 0 ? request.memory_bytes : options_.memory_bytes;
  if (cpus > 0) config["limits.cpu"] = absl::StrCat(cpus);
  if (memory > 0) config["limits.memory"] = absl::StrCat(memory, "B");
  Json devices{{"root", {{"type", "disk"}, {"path", "/"}, {"pool", storage_pool}}}};
  if (build) {
    bool mounts = false;
    if (!request.sources_dir.empty()) {
      devices["sources"] = {{"type", "disk"},
                            {"source", request.sources_dir.string()},
                            {"path", "/sf/cache/sources"},
                            {"readonly", "true"}};
      mounts = true;
    }
    if (!request.ccache_dir.empty()) {
      devices["ccache"] = {{"type", "disk"},
                           {"source", request.ccache_dir.string()},
                           {"path", "/sf/cache/ccache"}};
      mounts = true;
    }
    // Root inside is the daemon's user outside: what a build writes into the
    // cache mounts stays owned by the daemon on the host.
    if (mounts && !options_.privileged) {
      config["raw.idmap"] = absl::StrFormat("uid %d 0\ngid %d 0", ::getuid(), ::getgid());
    }
  }
  if (options_.privileged) {
    if (::getuid() != 0) {
      return absl::FailedPreconditionError(
          "lxd.privileged needs sfactoryd to run as root (files a build writes into the ccache "
          "would belong to root); remove it from the config");
    }
    config["security.privileged"] = "true";
  }
  Json body{{"name", name},
            {"type", "container"},
            {"source", {{"type", "image"}, {"fingerprint", fingerprint}}},
            {"profiles", Json::array({"default"})},
            {"config", config},
            {"devices", devices}};

  log.Write(absl::StrCat("sfactory: creating instance ", name, " from base ", base.Alias(), "\n"));
  auto t1 = Clock::now();
  {
    absl::ReaderMutexLock copy_lock(&pool_->copy_mutex());
    SF_RETURN_IF_ERROR(client_
                           ->Run("POST", "/1.0/instances", body, op_timeout_,
                                 absl::StrCat("create instance ", name, " (copy from base ",
                                              base.Alias(), ")"))
                           .status());
  }
  auto t2 = Clock::now();
  timings.copy = Seconds(t2 - t1);
  auto fail = [&](absl::Status s) {
    (void)DeleteInstance(*client_, name, op_timeout_);
    return s;
  };
  if (cancel.cancelled()) return fail(absl::CancelledError(absl::StrCat("lxd: create ", name, ": cancelled")));
  if (absl::Status s = StartInstance(*client_, name, op_timeout_); !s.ok()) {
    return fail(s);
  }
  auto t3 = Clock::now();
  timings.start = Seconds(t3 - t2);
  if (absl::Status s = WaitUntilReady(*client_, name, std::chrono::seconds(120), &cancel); !s.ok()) {
    return fail(s);
  }
  timings.ready = Seconds(Clock::now() - t3);
  {
    absl::MutexLock lock(&mu_);
    last_timings_ = timings;
  }
  log.Write(absl::StrFormat(
      "sfactory: instance %s ready in %.1f s (base %.1f s, copy %.1f s, start %.1f s, ready %.1f s)\n",
      name, Seconds(Clock::now() - t0), timings.base, timings.copy, timings.start, timings.ready));

  InstanceLayout layout;
  if (build) {
    layout.sources = "/sf/cache/sources";
    layout.ccache = "/sf/cache/ccache";
  }
  layout.work = "/sf/work";
  layout.out = "/sf/out";
  return std::unique_ptr<Instance>(
      std::make_unique<LxdInstance>(*client_, name, std::move(layout), op_timeout_));
}

absl::Status LxdProvider::Destroy(std::unique_ptr<Instance> instance) {
  if (instance == nullptr) return absl::OkStatus();
  return DeleteInstance(*client_, instance->name(), op_timeout_);
}

absl::StatusOr<int> LxdProvider::RemoveOrphans(const std::set<std::string>& live_build_ids) {
  SF_ASSIGN_OR_RETURN(Json instances, client_->Sync("GET", "/1.0/instances?recursion=1", Json(),
                                                    "list instances"));
  int removed = 0;
  if (!instances.is_array()) return removed;
  for (const Json& inst : instances) {
    const Json config = inst.value("config", Json::object());
    std::string name = inst.value("name", "");
    std::string purpose = config.value(kPurposeKey, "");
    bool orphan = false;
    if (purpose == "build" || purpose == "verify") {
      orphan = live_build_ids.count(config.value(kBuildIdKey, "")) == 0;
    } else if (purpose == "base") {
      orphan = !pool_->Building(config.value("user.sfactory.base-digest", ""));
    }
    if (!orphan) continue;
    SF_RETURN_IF_ERROR(DeleteInstance(*client_, name, op_timeout_));
    ++removed;
  }
  return removed;
}

absl::StatusOr<std::vector<v1::BaseImage>> LxdProvider::ListBaseImages() {
  SF_RETURN_IF_ERROR(Setup().status());
  return pool_->List();
}

absl::StatusOr<v1::BaseImage> LxdProvider::RebuildBaseImage(const v1::BuildSpec& spec,
                                                            const std::vector<std::string>& packages) {
  SF_ASSIGN_OR_RETURN(std::string storage_pool, Setup());
  NullSink sink;
  CancelToken cancel;
  return pool_->Rebuild(DefineBase(spec, packages, options_), storage_pool, sink, cancel);
}

absl::StatusOr<std::vector<v1::BaseImage>> LxdProvider::PruneBaseImages(bool all) {
  SF_RETURN_IF_ERROR(Setup().status());
  return pool_->Prune(all);
}

}  // namespace sfactory::provider::lxd
