// sfactory.v1.SourceService: uploads into the content-addressed source
// cache and lists what it holds.
#pragma once

#include "daemon/cache/source_cache.h"
#include "daemon/store/store.h"
#include "sfactory/v1/sfactory.grpc.pb.h"

namespace sfactory::service {

class SourceServiceImpl final : public v1::SourceService::Service {
 public:
  // Both outlive the service.
  SourceServiceImpl(cache::SourceCache* cache, store::Store* store) : cache_(cache), store_(store) {}
  // The first message is the header (file name, optional sha256), the rest
  // are data. A bad name or digest is INVALID_ARGUMENT before any data is
  // read; the source enters the cache only complete and hashed.
  grpc::Status AddSource(grpc::ServerContext* ctx, grpc::ServerReader<v1::AddSourceRequest>* reader,
                         v1::Source* resp) override;
  grpc::Status ListSources(grpc::ServerContext* ctx, const v1::ListSourcesRequest* req,
                           v1::ListSourcesResponse* resp) override;

 private:
  cache::SourceCache* cache_;
  store::Store* store_;
};

}  // namespace sfactory::service
