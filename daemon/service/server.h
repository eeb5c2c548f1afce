// Builds and starts sfactoryd's gRPC server from the config: the unix
// sockets (accepted by auth::UnixListener so callers are known by uid), the
// TCP listeners (TLS only), the services, health checking per service name
// and server reflection (v1 and v1alpha).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/auth/unix_listener.h"
#include "daemon/config/config.h"
#include "daemon/metrics/recorder.h"
#include "daemon/service/reflection_v1.h"
#include "grpcpp/server.h"

namespace sfactory::service {

// Binds every unix address of config.listen (before the services exist, so
// that the authenticator can know them).
absl::StatusOr<std::vector<std::unique_ptr<auth::UnixListener>>> BindUnixListeners(
    const config::Config& config);

struct Server {
  std::unique_ptr<ReflectionV1Service> reflection;  // outlives grpc (declared first)
  std::unique_ptr<grpc::Server> grpc;
  std::vector<std::unique_ptr<auth::UnixListener>> unix;
  // Stops accepting, ends calls (waiting up to `grace`), removes sockets.
  void Shutdown(absl::Duration grace);
};

// `services` are registered under their full names (for health and
// reflection). The unix listeners start serving into the new server. With
// `metrics`, every call's end is counted there by method and status code.
absl::StatusOr<Server> StartServer(const config::Config& config,
                                   std::vector<std::unique_ptr<auth::UnixListener>> unix,
                                   const std::vector<std::pair<std::string, grpc::Service*>>& services,
                                   metrics::Recorder* metrics = nullptr);

}  // namespace sfactory::service
