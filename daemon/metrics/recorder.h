// What the daemon's parts tell the metrics endpoint as things happen. The
// parts see only this interface (no Prometheus types): a daemon without
// `metrics_listen` passes NullRecorder(), whose methods do nothing.
// Every method may be called from any thread.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"
#include "sfactory/v1/sfactory.pb.h"

namespace sfactory::metrics {

class Recorder {
 public:
  virtual ~Recorder() = default;
  // A build ended (succeeded, failed or cancelled; not a requeue): its
  // result, series, recipe, duration and each step's time.
  virtual void BuildFinished(const v1::Build& build) {}
  // A source tarball download from the catalog's URLs ended.
  virtual void SourceDownload(bool ok, uint64_t bytes) {}
  // Artifact bytes sent to a FetchArtifact caller.
  virtual void FetchBytes(uint64_t bytes) {}
  // An RPC ended with `code` (grpc::StatusCode as an int).
  virtual void Rpc(absl::string_view method, int code) {}
};

inline Recorder& NullRecorder() {
  static Recorder* none = new Recorder();
  return *none;
}

}  // namespace sfactory::metrics
