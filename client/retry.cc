#include "client/retry.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace sfactory::client {

bool IsBrokenStream(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::CANCELLED ||
         status.error_code() == grpc::StatusCode::ABORTED;
}

grpc::Status RetryUnavailable(const RetryPolicy& policy,
                              const std::function<grpc::Status()>& attempt) {
  Backoff backoff(policy);
  for (int i = 1;; ++i) {
    grpc::Status status = attempt();
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || i >= policy.attempts) {
      return status;
    }
    backoff.Wait();
  }
}

}  // namespace sfactory::client
