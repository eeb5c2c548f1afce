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
#include "daemon/service/providers.h"
#include "common/logging.h"

#ifndef SFACTORY_VERSION
#define SFACTORY_VERSION "0.0.0"
#endif

namespace sfactory::service {
namespace {

void PrintHelp() {
  std::printf(
      "usage: sfactoryd [--config FILE] [--listen ADDRESS]... [--state-dir DIR]\n"
      "                 [--provider auto|local|lxd] [--log-level LEVEL] [--show-config]\n"
      "\n"
      "The sfactory build daemon. It owns the build queue, the caches and the\n"
      "provider (LXD or local) and serves the sfactory.v1 gRPC API.\n"
      "\n"
      "  --config FILE     YAML config (default %s if it exists)\n"
      "  --listen ADDRESS  listen address, repeatable; overrides the config's list\n"
      "  --state-dir DIR   overrides state_dir\n"
      "  --provider KIND   overrides provider\n"
      "  --log-level LVL   overrides log_level\n"
      "  --show-config     print the effective config with each value's origin and exit\n"
      "  --version         print the version and exit\n"
      "\n"
      "Config keys (all optional):\n",
      DefaultConfigPath().c_str());
  std::fputs(config::KeysHelp().c_str(), stdout);
  std::printf("\nExit status: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when it cannot start,\n"
              "2 for bad flags or config.\n");
}

}  // namespace

int Main(int argc, char** argv) {
  std::string config_path;
  std::vector<std::string> listen;
  std::string state_dir, provider, log_level;
  bool show_config = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "sfactoryd: %s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      PrintHelp();
      return 0;
    } else if (a == "--version") {
      std::printf("sfactoryd %s\n", SFACTORY_VERSION);
      return 0;
    } else if (a == "--config") {
      config_path = value("--config");
    } else if (a == "--listen") {
      listen.push_back(NormalizeAddress(value("--listen")));
    } else if (a == "--state-dir") {
      state_dir = value("--state-dir");
    } else if (a == "--provider") {
      provider = value("--provider");
    } else if (a == "--log-level") {
      log_level = value("--log-level");
    } else if (a == "--show-config") {
      show_config = true;
    } else {
      std::fprintf(stderr, "sfactoryd: unknown argument '%s' (see sfactoryd --help)\n", a.c_str());
      return 2;
    }
  }
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
