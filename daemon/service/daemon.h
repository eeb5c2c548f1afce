// Builds every part of sfactoryd from a Config, serves gRPC until SIGTERM or
// SIGINT, then shuts down in order: stop accepting, end watchers, stop and
// requeue running builds, close the store.
#pragma once

#include "absl/status/status.h"
#include "daemon/config/config.h"

namespace sfactory::service {

// Blocks until a termination signal. Returns an error (to print and exit
// non-zero with) when the daemon cannot start.
absl::Status RunDaemon(const config::Config& config);

}  // namespace sfactory::service
