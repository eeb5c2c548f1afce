// The one retry policy of sfactory: exponential backoff with jitter. The
// client uses it for unary calls and stream reconnects, the daemon for
// source downloads.
#pragma once

#include <cstdint>

#include "absl/time/time.h"

namespace sfactory {

struct BackoffPolicy {
  int attempts = 3;  // tries in all, >= 1
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Milliseconds(800);
  // Each delay is drawn from [d × (1 − jitter), d], so that many callers
  // failing at once do not retry in step.
  double jitter = 0.2;
};

// initial, 2×initial, … capped at max_backoff, each less up to `jitter`.
class Backoff {
 public:
  explicit Backoff(const BackoffPolicy& policy)
      : policy_(policy), next_(policy.initial_backoff) {}
  // The delay to wait now; the next one doubles.
  absl::Duration Next();
  // Sleeps for Next().
  void Wait();
  void Reset() { next_ = policy_.initial_backoff; }

 private:
  BackoffPolicy policy_;
  absl::Duration next_;
};

}  // namespace sfactory
