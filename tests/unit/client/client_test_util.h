// Runs the client in-process against a FakeDaemon and captures its output.
#pragma once

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <stdexcept>

#include "absl/strings/string_view.h"
#include "client/run.h"
#include "common/fs.h"

namespace sfactory::client::testing {

struct RunResult {
  int code = -1;
  std::string out;
  std::string err;
};

inline bool Contains(absl::string_view haystack, absl::string_view needle) {
  return haystack.find(needle) != absl::string_view::npos;
}

// A fresh temp dir `<prefix>XXXXXX`; throws (failing the test) when none can be made.
inline TempDir NewTempDir(absl::string_view prefix) {
  absl::StatusOr<TempDir> dir = TempDir::Create(prefix);
  if (!dir.ok()) throw std::runtime_error(std::string(dir.status().message()));
  return std::move(*dir);
}

// Fast timeouts so that failure paths do not slow the suite down.
inline ConnectOptions FastConnectOptions() {
  ConnectOptions o;
  o.connect_timeout = absl::Seconds(3);
  o.reconnect_timeout = absl::Seconds(3);
  o.rpc_timeout = absl::Seconds(10);
  o.retry.attempts = 3;
  o.retry.initial_backoff = absl::Milliseconds(10);
  o.retry.max_backoff = absl::Milliseconds(40);
  return o;
}

// An environment with just these variables: a test never reads the
// caller's SFACTORY_* variables or ~/.config/sfactory/client.yaml.
using FakeEnv = std::map<std::string, std::string>;
inline GetEnv EnvOf(FakeEnv vars) {
  return [vars = std::move(vars)](absl::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

struct RunSetup {
  FakeEnv env;
  bool out_is_terminal = false;
};

// `sfactory ARGS --address ADDRESS` (no --address when it is empty).
inline RunResult RunClient(const std::string& address, std::vector<std::string> args,
                           const RunSetup& setup = {}) {
  std::ostringstream out;
  std::ostringstream err;
  RunOptions options;
  options.out = &out;
  options.err = &err;
  options.connect = FastConnectOptions();
  options.env = EnvOf(setup.env);
  options.out_is_terminal = setup.out_is_terminal;
  if (!address.empty()) {
    args.push_back("--address");
    args.push_back(address);
  }
  RunResult result;
  result.code = Run(args, options);
  result.out = out.str();
  result.err = err.str();
  return result;
}

}  // namespace sfactory::client::testing
