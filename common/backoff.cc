#include "common/backoff.h"

#include <algorithm>

#include "absl/random/random.h"
#include "absl/time/clock.h"

namespace sfactory {

absl::Duration Backoff::Next() {
  absl::Duration d = next_;
  next_ = std::min(next_ * 2, policy_.max_backoff);
  if (policy_.jitter > 0) {
    static thread_local absl::BitGen gen;
    d *= 1.0 - absl::Uniform(gen, 0.0, std::min(policy_.jitter, 1.0));
  }
  return d;
}

void Backoff::Wait() { absl::SleepFor(Next()); }

}  // namespace sfactory
