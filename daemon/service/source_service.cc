#include "daemon/service/source_service.h"

#include "absl/strings/str_cat.h"
#include "common/echo.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/names.h"
#include "common/sha256.h"
#include "daemon/service/calls.h"
#include "daemon/service/replies.h"

namespace sfactory::service {

grpc::Status SourceServiceImpl::AddSource(grpc::ServerContext* ctx,
                                          grpc::ServerReader<v1::AddSourceRequest>* reader,
                                          v1::Source* resp) {
  SF_CALLER_OR_RETURN(caller, *auth_, *ctx);
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
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "sha256 must be 64 lower-case hex digits");
  }
  if (catalog_->FindSource(header.name()) == nullptr) {
    // A name no catalog release uses can still be named by a recipe; only
    // an admin decides what such a name means.
    absl::Status allowed = auth_->admins().Require(
        caller, absl::StrCat("add source ", EchoInput(header.name(), 80),
                             ", which the catalog does not know"));
    if (!allowed.ok()) return ToGrpcStatus(allowed);
  }
  if (header.size() > max_size_) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("source of ", header.size(), " bytes is over the limit of ",
                                     max_size_, " bytes (config key max_source_size)"));
  }

  // Why the stream stopped, when it did not end cleanly.
  absl::Status cut;
  uint64_t received = 0;
  auto source = cache_->Add(
      header.name(), header.sha256(), [&](std::string* chunk) -> absl::StatusOr<bool> {
        v1::AddSourceRequest part;
        if (!reader->Read(&part)) {
          // Read() is false both at a clean end and when the client
          // cancelled, hung up or sent a message over the size limit; only
          // the first may be stored.
          if (ctx->IsCancelled()) {
            cut = absl::CancelledError(
                "the upload was cancelled or cut before it ended; nothing was stored");
            return cut;
          }
          if (header.size() != 0 && received != header.size()) {
            cut = absl::InvalidArgumentError(
                absl::StrCat("the header announced ", header.size(), " bytes but ", received,
                             " arrived; nothing was stored"));
            return cut;
          }
          return false;
        }
        if (part.part_case() != v1::AddSourceRequest::kData) {
          cut = absl::InvalidArgumentError("only data messages may follow the header");
          return cut;
        }
        received += part.data().size();
        if (received > max_size_) {
          cut = absl::ResourceExhaustedError(
              absl::StrCat("source is over the limit of ", max_size_,
                           " bytes (config key max_source_size); nothing was stored"));
          return cut;
        }
        *chunk = std::move(*part.mutable_data());
        return true;
      });
  if (!source.ok()) {
    spdlog::warn("AddSource {} by {} refused: {}", EchoInput(header.name(), 80),
                 caller.Describe(), source.status().message());
    if (cut.ok() && !absl::IsInvalidArgument(source.status()) &&
        !absl::IsAlreadyExists(source.status())) {
      spdlog::error("AddSource {}: {}", EchoInput(header.name(), 80), source.status().message());
    }
    return ToGrpcStatus(source.status());
  }
  spdlog::info("source {} added by {} (sha256 {}, {} bytes)", source->name(), caller.Describe(),
               source->sha256(), source->size());
  *resp = std::move(*source);
  return grpc::Status::OK;
}

grpc::Status SourceServiceImpl::ListSources(grpc::ServerContext* ctx, const v1::ListSourcesRequest*,
                                            v1::ListSourcesResponse* resp) {
  SF_AUTHENTICATED_OR_RETURN(*auth_, *ctx);
  return ReplyWithAll(store_->ListSources(), resp->mutable_sources());
}

}  // namespace sfactory::service
