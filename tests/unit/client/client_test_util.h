// Runs the client in-process against a FakeDaemon and captures its output.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "client/run.h"

namespace sfactory::client::testing {

struct RunResult {
  int code = -1;
  std::string out;
  std::string err;
};

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

struct RunSetup {
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
