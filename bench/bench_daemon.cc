#include "bench/bench_daemon.h"

#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

#ifndef SFACTORYD_PATH
#define SFACTORYD_PATH ""
#endif
#ifndef SFACTORY_PATH
#define SFACTORY_PATH ""
#endif
#ifndef SFACTORY_SOURCE_DIR
#define SFACTORY_SOURCE_DIR ""
#endif

extern char** environ;

namespace sfactory::bench {
namespace fs = std::filesystem;
namespace {

// The build tree this binary lives in: <build>/bench/<exe>.
fs::path NextToMe(const fs::path& relative) {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return exe.parent_path().parent_path() / relative;
}

fs::path FirstExisting(std::initializer_list<fs::path> candidates) {
  for (const auto& c : candidates) {
    std::error_code ec;
    if (!c.empty() && fs::exists(c, ec)) return c;
  }
  return {};
}

}  // namespace

CommonFlags ParseFlags(int argc, char** argv, const char* usage,
                       const std::function<int(const std::string&, const char*)>& extra) {
  CommonFlags f;
  auto bad = [&](const std::string& why) {
    std::fprintf(stderr, "%s\n%s", why.c_str(), usage);
    std::exit(2);
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    auto value = [&]() -> std::string {
      if (!next) bad(a + " needs a value");
      ++i;
      return next;
    };
    if (a == "--help" || a == "-h") {
      std::printf("%s", usage);
      std::exit(0);
    } else if (a == "--sfactoryd") {
      f.sfactoryd = value();
    } else if (a == "--sfactory") {
      f.sfactory = value();
    } else if (a == "--source-dir") {
      f.source_dir = value();
    } else if (a == "--keep") {
      f.keep = true;
    } else {
      int used = extra(a, next);
      if (used == 0) bad("unknown flag " + a);
      i += used - 1;
    }
  }
  if (f.sfactoryd.empty()) {
    f.sfactoryd = FirstExisting({SFACTORYD_PATH, NextToMe("daemon/service/sfactoryd")});
  }
  if (f.sfactory.empty()) {
    f.sfactory = FirstExisting({SFACTORY_PATH, NextToMe("client/sfactory")});
  }
  if (f.source_dir.empty()) f.source_dir = SFACTORY_SOURCE_DIR;
  std::error_code ec;
  if (f.sfactoryd.empty() || !fs::exists(f.sfactoryd, ec))
    bad("cannot find sfactoryd; pass --sfactoryd");
  if (!fs::exists(f.source_dir / "tests/recipes/hello/recipe.yaml", ec)) {
    bad("cannot find the source tree (tests/recipes/hello); pass --source-dir");
  }
  return f;
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, bool private_connection) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(32 << 20);  // as client/connection.cc
  if (private_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(
    const CommonFlags& flags, const std::string& name,
    const std::vector<std::string>& extra_config) {
  SF_ASSIGN_OR_RETURN(TempDir tmp, TempDir::Create(absl::StrCat("sf-bench-", name, "-")));
  std::unique_ptr<Daemon> d(new Daemon(std::move(tmp), flags.keep));
  const fs::path root = d->dir();
  const fs::path src = flags.source_dir;
  const fs::path socket = root / "run" / "sfactoryd.sock";
  SF_RETURN_IF_ERROR(MakeDirs(root / "run"));
  d->address_ = "unix:" + socket.string();
  // An extra "listen:" line (e.g. a TLS port beside the socket) replaces
  // the default one; it must keep the unix socket, which the bench uses.
  bool own_listen = std::any_of(extra_config.begin(), extra_config.end(),
                                [](const std::string& l) { return l.rfind("listen:", 0) == 0; });
  std::string config =
      absl::StrCat(own_listen ? "" : absl::StrCat("listen: [unix:", socket.string(), "]\n"),
                   "state_dir: ", (root / "state").string(), "\n", "provider: local\n",
                   "data_dir: ", (src / "templates").string(), "\n", "recipe_dirs: [",
                   (src / "templates/recipes").string(), ", ", (src / "tests/recipes").string(),
                   "]\n", "default_recipe: hello\n", "build_jobs: 2\n");
  for (const auto& line : extra_config) {
    absl::StrAppend(&config, absl::StrReplaceAll(line, {{"@SOCKET@", socket.string()}}), "\n");
  }
  SF_RETURN_IF_ERROR(WriteFileAtomic(root / "sfactoryd.yaml", config));

  SF_ASSIGN_OR_RETURN(Fd log, OpenFile(root / "daemon.log", O_WRONLY | O_CREAT | O_APPEND));
  SubprocessOptions opts;
  opts.argv = {flags.sfactoryd.string(), "--config", (root / "sfactoryd.yaml").string()};
  for (char** e = environ; *e; ++e) opts.env.push_back(*e);
  opts.output_fd = log.get();
  SF_ASSIGN_OR_RETURN(Subprocess child, Subprocess::Start(opts));
  d->daemon_.emplace(std::move(child));

  d->channel_ = MakeChannel(d->address_, false);
  d->builds_ = v1::BuildService::NewStub(d->channel_);
  d->info_ = v1::ServerInfoService::NewStub(d->channel_);
  for (int i = 0; i < 30; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    ctx.set_wait_for_ready(true);
    v1::ServerInfo info;
    if (d->info_->GetServerInfo(&ctx, v1::GetServerInfoRequest(), &info).ok()) {
      if (!info.provider_problem().empty()) {
        d->Keep();
        return absl::FailedPreconditionError("provider problem: " + info.provider_problem());
      }
      return d;
    }
    auto done = d->daemon_->TryWait();
    if (done.ok() && done->has_value()) {
      d->Keep();
      return absl::UnavailableError(
          absl::StrCat("sfactoryd exited ", **done, " during start:\n", d->LogTail(20)));
    }
  }
  d->Keep();
  return absl::DeadlineExceededError("sfactoryd did not answer within 30 s:\n" + d->LogTail(20));
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::StartWithHelloSource(
    const CommonFlags& flags, const std::string& name,
    const std::vector<std::string>& extra_config) {
  SF_ASSIGN_OR_RETURN(std::unique_ptr<Daemon> d, Start(flags, name, extra_config));
  if (absl::Status s = d->AddSource(flags.source_dir / "tests/fixtures/hello-1.0.tar.gz");
      !s.ok()) {
    d->Keep();
    return s;
  }
  return d;
}

absl::StatusOr<int> Daemon::Stop() {
  if (!daemon_) return absl::FailedPreconditionError("not running");
  builds_.reset();
  info_.reset();
  channel_.reset();
  daemon_->SignalGroup(SIGTERM);
  for (int i = 0; i < 300; ++i) {
    SF_ASSIGN_OR_RETURN(std::optional<int> rc, daemon_->TryWait());
    if (rc) {
      daemon_.reset();
      return *rc;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  daemon_->SignalGroup(SIGKILL);
  SF_ASSIGN_OR_RETURN(int rc, daemon_->Wait());
  daemon_.reset();
  return rc;
}

Daemon::~Daemon() {
  if (daemon_) (void)Stop();
  if (keep_) dir_.Keep();
}

void Daemon::Keep() {
  if (!keep_) std::fprintf(stderr, "keeping %s (daemon.log is there)\n", dir_.path().c_str());
  keep_ = true;
}

absl::Status Daemon::AddSource(const fs::path& file) {
  SF_ASSIGN_OR_RETURN(std::string data, ReadFile(file));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::Source result;
  v1::SourceService::Stub sources(channel_);
  auto writer = sources.AddSource(&ctx, &result);
  v1::AddSourceRequest header;
  header.mutable_header()->set_name(file.filename().string());
  bool ok = writer->Write(header);
  for (size_t at = 0; ok && at < data.size(); at += 1 << 20) {
    v1::AddSourceRequest part;
    part.set_data(data.substr(at, 1 << 20));
    ok = writer->Write(part);
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (!s.ok()) return absl::InternalError("AddSource: " + s.error_message());
  return absl::OkStatus();
}

absl::StatusOr<v1::Build> Daemon::GetBuild(const std::string& id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::GetBuildRequest req;
  req.set_build_id(id);
  v1::Build b;
  grpc::Status s = builds_->GetBuild(&ctx, req, &b);
  if (!s.ok()) return absl::InternalError("GetBuild: " + s.error_message());
  return b;
}

absl::StatusOr<v1::Build> Daemon::SubmitAndWait(const v1::SubmitBuildRequest& request,
                                                absl::Duration timeout) {
  v1::SubmitBuildResponse resp;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status s = builds_->SubmitBuild(&ctx, request, &resp);
    if (!s.ok()) return absl::InternalError("SubmitBuild: " + s.error_message());
  }
  const absl::Time end = absl::Now() + timeout;
  for (;;) {
    SF_ASSIGN_OR_RETURN(v1::Build b, GetBuild(resp.build().id()));
    if (b.state() == v1::BUILD_STATE_SUCCEEDED || b.state() == v1::BUILD_STATE_FAILED ||
        b.state() == v1::BUILD_STATE_CANCELLED) {
      return b;
    }
    if (absl::Now() > end) {
      return absl::DeadlineExceededError(absl::StrCat("build ", b.id(), " is still ",
                                                      v1::BuildState_Name(b.state()), " after ",
                                                      absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
}

std::string Daemon::LogTail(int lines) const {
  auto text = ReadFile(dir_.path() / "daemon.log");
  if (!text.ok()) return "(no daemon.log)";
  std::vector<std::string> all = absl::StrSplit(*text, '\n');
  size_t from = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0;
  return absl::StrJoin(all.begin() + static_cast<long>(from), all.end(), "\n");
}

int Daemon::Fail(const char* bench, const std::string& why) {
  std::fprintf(stderr, "%s: FAIL: %s\ndaemon log tail:\n%s\n", bench, why.c_str(),
               LogTail(30).c_str());
  Keep();
  return 1;
}

std::optional<uint64_t> ProcStatus(pid_t pid, const char* field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  const std::string prefix = absl::StrCat(field, ":");
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::strtoull(line.c_str() + prefix.size(), nullptr, 10);
  }
  return std::nullopt;
}

bool ResetPeakRss(pid_t pid) {
  std::ofstream out(absl::StrCat("/proc/", pid, "/clear_refs"));
  out << "5\n";
  out.flush();
  return static_cast<bool>(out);
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

double Median(std::vector<double> v) { return Percentile(v, 50); }

const char* Verdict(bool met) { return met ? "PASS" : "MISSED"; }

std::string MachineDescription() {
  std::string model = "unknown CPU";
  std::ifstream cpu("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpu, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  uint64_t mem_kb = 0;
  std::ifstream mem("/proc/meminfo");
  while (std::getline(mem, line)) {
    if (line.rfind("MemTotal:", 0) == 0) mem_kb = std::strtoull(line.c_str() + 9, nullptr, 10);
  }
  struct utsname u;
  ::uname(&u);
  return absl::StrCat(model, ", ", std::thread::hardware_concurrency(), " CPUs online, ",
                      mem_kb / 1024 / 1024, " GiB RAM, Linux ", u.release);
}

}  // namespace sfactory::bench
