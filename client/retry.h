// The one retry/backoff policy of the client. Unary calls retry UNAVAILABLE
// (the daemon restarting, or the connection not yet up) a bounded number of
// times; streams reuse the same backoff between reconnects.
#pragma once

#include <functional>

#include "absl/time/time.h"
#include "grpcpp/support/status.h"

namespace sfactory::client {

struct RetryPolicy {
  int attempts = 3;                                  // tries in all, >= 1
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Milliseconds(800);
};

// Exponential backoff: initial, 2×initial, … capped at max_backoff.
class Backoff {
 public:
  explicit Backoff(const RetryPolicy& policy) : policy_(policy), next_(policy.initial_backoff) {}
  // Sleeps for the current delay and doubles it for next time.
  void Wait();
  void Reset() { next_ = policy_.initial_backoff; }

 private:
  RetryPolicy policy_;
  absl::Duration next_;
};

// Whether a stream that ended with `status` should be re-opened (resuming
// where it stopped): the daemon went away or is restarting. Any other error
// is the daemon's answer.
bool IsBrokenStream(const grpc::Status& status);

// Calls `attempt` until it returns anything but UNAVAILABLE, or `policy`'s
// attempts are used up; returns the last status.
grpc::Status RetryUnavailable(const RetryPolicy& policy,
                              const std::function<grpc::Status()>& attempt);

}  // namespace sfactory::client
