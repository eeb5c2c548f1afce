// The one mapping between absl::Status and grpc::Status, both ways. absl and
// gRPC share code numbers, so the mapping keeps the code and the message.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace sfactory {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace sfactory
