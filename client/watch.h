// Following a build: WatchBuild with resume. When the stream breaks (the
// daemon restarts, the connection drops) the watcher reconnects and asks
// for the log from the last byte it passed on, so the caller sees every log
// byte exactly once and in order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/connection.h"
#include "sfactory/v1/sfactory.pb.h"

namespace sfactory::client {

struct WatchHandlers {
  // Log bytes in order, each byte once. An error stops the watch and is returned.
  std::function<absl::Status(absl::string_view data)> on_log;
  // Every Build event (state or phase changes, and the final state).
  std::function<void(const v1::Build& build)> on_build;
  // Something the user should know that is not an error (reconnects, gaps).
  std::function<void(absl::string_view note)> on_note;
};

struct WatchResult {
  v1::Build build;           // the last Build event (empty when none came)
  bool has_build = false;
  uint64_t next_offset = 0;  // the log offset after the last byte passed on
};

// Watches `build_id` from log byte `offset`. With `follow`, returns when the
// build has ended (the daemon's last event is a terminal Build); without,
// returns when the daemon has sent what exists now. Gives up when the daemon
// stays unreachable for options().reconnect_timeout, or after
// options().retry.attempts consecutive broken streams with no progress.
absl::StatusOr<WatchResult> WatchBuild(Connection& connection, const std::string& build_id,
                                       uint64_t offset, bool follow,
                                       const WatchHandlers& handlers);

}  // namespace sfactory::client
