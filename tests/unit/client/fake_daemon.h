// An in-process stand-in for sfactoryd: the v1 services with canned builds,
// logs and artifacts, on a unix socket in a temp dir, plus knobs that break
// streams the way a restarting daemon would.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/fs.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "sfactory/v1/sfactory.grpc.pb.h"

namespace sfactory::client::testing {

struct FakeArtifact {
  v1::Artifact listed;  // what GetBuild and the fetch header say
  std::string bytes;    // what the fetch stream sends
};

struct FakeState {
  std::map<std::string, v1::Build> builds;
  std::map<std::string, std::string> logs;  // build id → whole log
  std::map<std::string, std::vector<FakeArtifact>> artifacts;
  // GetDebugBundle: the bundle of a build, else this error.
  std::map<std::string, FakeArtifact> debug_bundles;
  grpc::Status debug_error{grpc::StatusCode::NOT_FOUND, "build kept no debug bundle"};
  // The build SubmitBuild returns (with outcome) and the state its watch ends in.
  v1::SubmitBuildResponse submit_response;
  v1::BuildState final_state = v1::BUILD_STATE_SUCCEEDED;
  std::string final_error;

  size_t chunk_size = 1000;
  // The first `fetch_cuts` FetchArtifact (or GetDebugBundle) streams end with UNAVAILABLE after
  // `fetch_cut_after` data bytes.
  int fetch_cuts = 0;
  size_t fetch_cut_after = 0;
  // Same for WatchBuild, counted in log bytes.
  int watch_cuts = 0;
  size_t watch_cut_after = 0;
  // Instead of ending with UNAVAILABLE at the cut, the stream stays open
  // (sending nothing) until the daemon shuts down; `holding` tells when.
  bool watch_hold = false;
  bool holding = false;
  // A resumed watch re-sends this many bytes before the requested offset
  // (a daemon may resend; the client must not print them twice).
  uint64_t watch_resend = 0;
  // Page size for ListBuilds when the request has none.
  int list_page_size = 50;

  // What the fake saw.
  std::vector<uint64_t> fetch_offsets;
  std::vector<uint64_t> watch_offsets;
  std::vector<v1::SubmitBuildRequest> submits;
  std::vector<std::string> uploaded;  // AddSource: header name + received bytes
  std::vector<v1::Source> upload_headers;

  // AuthService. WhoAmI answers `whoami` (with a verified client
  // certificate: via "certificate" and its CN instead). When `admin` is
  // false, token calls are PERMISSION_DENIED. When `required_token` is set,
  // every AuthService call without "authorization: Bearer <it>" is
  // UNAUTHENTICATED.
  v1::WhoAmIResponse whoami;
  bool admin = true;
  std::string required_token;
  std::vector<v1::Token> tokens;
  std::vector<v1::CreateTokenRequest> token_creates;
  // What AuthService calls carried: the authorization metadata ("" when none).
  std::vector<std::string> authorizations;
};

// PEM files for a TLS listener; with `client_ca`, client certificates
// signed by it are asked for and verified (but not required).
struct FakeTls {
  std::string cert;
  std::string key;
  std::string client_ca;
};

class FakeDaemon {
 public:
  // Starts listening on `<temp dir>/sfactoryd.sock`.
  FakeDaemon();
  // Starts listening on `address` ("unix:PATH"), e.g. to replace a stopped one.
  explicit FakeDaemon(const std::string& address);
  // Starts listening with TLS on 127.0.0.1 (a free port); address() is
  // "127.0.0.1:PORT".
  explicit FakeDaemon(const FakeTls& tls);
  ~FakeDaemon();

  const std::string& address() const { return address_; }
  // Runs `f` on the state under the lock.
  template <typename F>
  void With(F&& f) {
    absl::MutexLock lock(&mu_);
    f(state_);
  }
  FakeState Snapshot() {
    absl::MutexLock lock(&mu_);
    return state_;
  }

  // A succeeded build `id` with one artifact per (name, bytes); digests and
  // sizes are computed from the bytes.
  void AddSucceededBuild(const std::string& id,
                         const std::vector<std::pair<std::string, std::string>>& files);
  // Gives the (existing) build `id` a debug bundle of these bytes.
  void SetDebugBundle(const std::string& id, const std::string& bytes);

 private:
  absl::Mutex mu_;
  FakeState state_ ABSL_GUARDED_BY(mu_);

  class BuildService;
  class InfoService;
  class SourceService;
  class ImageService;
  class AuthService;

  void Start(std::shared_ptr<grpc::ServerCredentials> credentials = nullptr);

  std::optional<TempDir> dir_;
  std::string address_;
  std::unique_ptr<BuildService> builds_;
  std::unique_ptr<InfoService> info_;
  std::unique_ptr<SourceService> sources_;
  std::unique_ptr<ImageService> images_;
  std::unique_ptr<AuthService> auth_;
  std::unique_ptr<grpc::Server> server_;
};

v1::Build MakeBuild(const std::string& id, v1::BuildState state);

}  // namespace sfactory::client::testing
