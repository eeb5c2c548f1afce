#include "daemon/service/main.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/paths.h"
#include "daemon/config/config.h"
#include "daemon/service/daemon.h"
#include "daemon/service/flags.h"
#include "daemon/service/providers.h"
#include "common/logging.h"

#ifndef SFACTORY_VERSION
#define SFACTORY_VERSION "0.0.0"
#endif

namespace sfactory::service {
namespace {

void PrintHelp() {
  std::printf(
      "usage: sfactoryd [flags]\n"
      "\n"
      "The sfactory build daemon. It owns the build queue, the caches and the\n"
      "provider (LXD or local) and serves the sfactory.v1 gRPC API.\n"
      "\n");
  std::fputs(DaemonFlagsHelp().c_str(), stdout);
  std::printf("\nConfig keys (all optional; this config file: %s):\n",
              DefaultConfigPath().c_str());
  std::fputs(config::KeysHelp().c_str(), stdout);
  std::printf("\nExit status:\n");
  for (const DaemonExitCode& e : DaemonExitCodes()) std::printf("  %d  %s\n", e.code, e.meaning);
}

}  // namespace

int Main(int argc, char** argv) {
  absl::StatusOr<DaemonArgs> args =
      ParseDaemonFlags(std::vector<std::string>(argv + 1, argv + argc));
  if (!args.ok()) {
    std::fprintf(stderr, "sfactoryd: %s\n", std::string(args.status().message()).c_str());
    return 2;
  }
  if (args->Has("help")) {
    PrintHelp();
    return 0;
  }
  if (args->Has("version")) {
    std::printf("sfactoryd %s\n", SFACTORY_VERSION);
    return 0;
  }
  const std::string config_path = args->Value("config");
  std::vector<std::string> listen;
  if (auto it = args->values.find("listen"); it != args->values.end()) {
    for (const std::string& a : it->second) listen.push_back(NormalizeAddress(a));
  }
  const std::string state_dir = args->Value("state-dir");
  const std::string provider = args->Value("provider");
  const std::string log_level = args->Value("log-level");
  const bool show_config = args->Has("show-config");
  absl::StatusOr<config::Config> cfg;
  if (!config_path.empty()) {
    cfg = config::LoadConfig(config_path);
  } else if (::access(DefaultConfigPath().c_str(), F_OK) == 0) {
    cfg = config::LoadConfig(DefaultConfigPath());
  } else {
    cfg = config::DefaultConfig();
  }
  if (!cfg.ok()) {
    std::fprintf(stderr, "sfactoryd: %s\n", std::string(cfg.status().message()).c_str());
    return 2;
  }
  // Flags override the file; re-derive what depends on them.
  if (!listen.empty()) {
    cfg->listen = listen;
    cfg->origin["listen"] = "flag";
    if (absl::Status s = config::CheckListenTls(*cfg, "--listen"); !s.ok()) {
      std::fprintf(stderr, "sfactoryd: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  if (!state_dir.empty()) {
    cfg->state_dir = state_dir;
    cfg->origin["state_dir"] = "flag";
    config::ApplyDerivedDefaults(*cfg);
  }
  if (!provider.empty()) {
    auto overridden = config::ParseConfig(absl::StrCat("provider: ", provider), "--provider");
    if (!overridden.ok()) {
      std::fprintf(stderr, "sfactoryd: %s\n", std::string(overridden.status().message()).c_str());
      return 2;
    }
    cfg->provider = overridden->provider;
    cfg->origin["provider"] = "flag";
  }
  if (!log_level.empty()) {
    cfg->log_level = log_level;
    cfg->origin["log_level"] = "flag";
  }
  if (absl::Status s = ValidateProviderConfig(*cfg); !s.ok()) {
    std::fprintf(stderr, "sfactoryd: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (show_config) {
    std::fputs(config::Describe(*cfg).c_str(), stdout);
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(cfg->log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::info("sfactoryd {} starting (state {}, config: {})", SFACTORY_VERSION,
               cfg->state_dir.string(), config_path.empty() ? "defaults" : config_path);
  absl::Status s = RunDaemon(*cfg);
  if (!s.ok()) {
    spdlog::error("cannot start: {}", s.message());
    return 1;
  }
  return 0;
}

}  // namespace sfactory::service
