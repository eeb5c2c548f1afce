// sfactory.v1.SourceService: uploads into the content-addressed source
// cache and lists what it holds.
#pragma once

#include <cstdint>

#include "common/catalog.h"
#include "daemon/auth/authenticator.h"
#include "daemon/cache/source_cache.h"
#include "daemon/store/store.h"
#include "sfactory/v1/sfactory.grpc.pb.h"

namespace sfactory::service {

class SourceServiceImpl final : public v1::SourceService::Service {
 public:
  // All outlive the service. `max_size` is the config's max_source_size.
  SourceServiceImpl(cache::SourceCache* cache, store::Store* store, const Catalog* catalog,
                    auth::Authenticator* auth, uint64_t max_size)
      : cache_(cache), store_(store), catalog_(catalog), auth_(auth), max_size_(max_size) {}
  // The first message is the header (file name, optional sha256 and size),
  // the rest are data. Refused before any data is read: a bad name or digest
  // (INVALID_ARGUMENT) and a name the catalog does not know from a caller who
  // is not an admin (PERMISSION_DENIED). The source enters the cache only
  // when the stream ended cleanly (not cancelled or cut), is not empty, not
  // over max_size, matches every digest it must (the uploader's, the
  // catalog's, the one its name is already stored with) and the size the
  // header gave.
  grpc::Status AddSource(grpc::ServerContext* ctx, grpc::ServerReader<v1::AddSourceRequest>* reader,
                         v1::Source* resp) override;
  grpc::Status ListSources(grpc::ServerContext* ctx, const v1::ListSourcesRequest* req,
                           v1::ListSourcesResponse* resp) override;

 private:
  cache::SourceCache* cache_;
  store::Store* store_;
  const Catalog* catalog_;
  auth::Authenticator* auth_;
  uint64_t max_size_;
};

}  // namespace sfactory::service
