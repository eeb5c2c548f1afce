// Helpers for filling gRPC responses from domain results.
#pragma once

#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/grpc_status.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "grpcpp/support/status.h"

namespace sfactory::service {

// Moves every item of `items` into `out` and returns OK, or returns the
// error mapped to a gRPC status (common/grpc_status.h) and leaves `out`.
template <typename T>
grpc::Status ReplyWithAll(absl::StatusOr<std::vector<T>> items,
                          google::protobuf::RepeatedPtrField<T>* out) {
  if (!items.ok()) return ToGrpcStatus(items.status());
  for (T& item : *items) *out->Add() = std::move(item);
  return grpc::Status::OK;
}

}  // namespace sfactory::service
