#include "daemon/service/source_service.h"

#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/names.h"
#include "common/sha256.h"
#include "daemon/service/replies.h"

namespace sfactory::service {

grpc::Status SourceServiceImpl::AddSource(grpc::ServerContext*,
                                          grpc::ServerReader<v1::AddSourceRequest>* reader,
                                          v1::Source* resp) {
  v1::AddSourceRequest msg;
  if (!reader->Read(&msg) || !msg.has_header()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the first AddSource message must be a header with the file name");
  }
  v1::Source header = msg.header();
  if (!IsValidSourceFileName(header.name())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "source name must be a plain file name (letters, digits, . _ + -)");
  }
  if (!header.sha256().empty() && !IsSha256Hex(header.sha256())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "sha256 must be 64 lower-case hex digits");
  }
  bool bad_message = false;
  auto source = cache_->Add(header.name(), header.sha256(),
                            [&](std::string* chunk) -> absl::StatusOr<bool> {
                              v1::AddSourceRequest part;
                              if (!reader->Read(&part)) return false;
                              if (part.part_case() != v1::AddSourceRequest::kData) {
                                bad_message = true;
                                return absl::InvalidArgumentError("only data messages may follow the header");
                              }
                              *chunk = std::move(*part.mutable_data());
                              return true;
                            });
  if (!source.ok()) {
    if (!bad_message && !absl::IsInvalidArgument(source.status())) {
      spdlog::error("AddSource {}: {}", header.name(), source.status().message());
    }
    return ToGrpcStatus(source.status());
  }
  spdlog::info("source {} added (sha256 {}, {} bytes)", source->name(), source->sha256(), source->size());
  *resp = std::move(*source);
  return grpc::Status::OK;
}

grpc::Status SourceServiceImpl::ListSources(grpc::ServerContext*, const v1::ListSourcesRequest*,
                                            v1::ListSourcesResponse* resp) {
  return ReplyWithAll(store_->ListSources(), resp->mutable_sources());
}

}  // namespace sfactory::service
