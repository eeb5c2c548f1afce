// How the client retries. Unary calls retry UNAVAILABLE (the daemon
// restarting, or the connection not yet up) a bounded number of times;
// streams reuse the same backoff between reconnects. The policy itself is
// sfactory's one (common/backoff.h), which the daemon's downloads use too.
#pragma once

#include <functional>

#include "absl/time/time.h"
#include "common/backoff.h"
#include "grpcpp/support/status.h"

namespace sfactory::client {

using RetryPolicy = ::sfactory::BackoffPolicy;
using ::sfactory::Backoff;

// Whether a stream that ended with `status` should be re-opened (resuming
// where it stopped): the daemon went away or is restarting. Any other error
// is the daemon's answer.
bool IsBrokenStream(const grpc::Status& status);

// Calls `attempt` until it returns anything but UNAVAILABLE, or `policy`'s
// attempts are used up; returns the last status.
grpc::Status RetryUnavailable(const RetryPolicy& policy,
                              const std::function<grpc::Status()>& attempt);

}  // namespace sfactory::client
