// A client for LXD's REST API over libcurl: the local unix socket or a remote
// LXD (cluster) over HTTPS with a client certificate. Every request carries
// the configured project, so the client never sees other projects' instances.
//
// Thread-safe: each call takes a curl handle from a small pool.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "daemon/provider/lxd/websocket.h"
#include "nlohmann/json.hpp"

namespace sfactory::provider::lxd {

using Json = nlohmann::json;

struct LxdEndpoint {
  // Unix socket path; used when `url` is empty.
  std::string socket;
  // "https://host:8443" for a remote LXD or cluster.
  std::string url;
  // PEM files for HTTPS: the client certificate and key that LXD trusts, and
  // the server certificate (pinned) or the CA that signed it. An empty
  // server_cert uses the system CA store.
  std::string client_cert;
  std::string client_key;
  std::string server_cert;
  // LXD project every request goes to; empty means LXD's "default".
  std::string project;
  // Limit for plain requests (not for operation waits, uploads or websockets).
  std::chrono::seconds request_timeout{60};
  std::chrono::seconds connect_timeout{10};
};

// Where LXD's unix socket usually is: $LXD_SOCKET, $LXD_DIR/unix.socket, the
// snap's and the distribution package's. Returns the first that exists, or
// the distribution path when none does.
std::string FindLxdSocket();

// Percent-encodes `s` for a URL path or query value; '/' stays as it is.
std::string UrlEncode(absl::string_view s);

// An LXD background operation, as returned by an async request.
struct LxdOperation {
  std::string id;
  Json metadata;  // the operation's own metadata (exec fds, image fingerprint, ...)
};

class LxdClient {
 public:
  // Checks the endpoint's configuration (files exist); does not contact LXD.
  static absl::StatusOr<std::unique_ptr<LxdClient>> Create(const LxdEndpoint& endpoint);
  ~LxdClient();
  LxdClient(const LxdClient&) = delete;
  LxdClient& operator=(const LxdClient&) = delete;

  const LxdEndpoint& endpoint() const { return endpoint_; }
  // "unix:/var/lib/lxd/unix.socket" or the URL, for messages.
  std::string Describe() const;

  // A request whose answer is synchronous; returns the response's metadata.
  // `what` names the action in errors: "lxd: <what>: <LXD's error>".
  // `path` is relative to the API root ("/1.0/instances?recursion=1"); the
  // project parameter is added here. Status codes: LXD unreachable →
  // Unavailable; 404 → NotFound; 403 → PermissionDenied; 409 → AlreadyExists;
  // other LXD errors → Internal (or FailedPrecondition for 400).
  absl::StatusOr<Json> Sync(absl::string_view method, absl::string_view path, const Json& body,
                            absl::string_view what);
  // A request that starts a background operation; returns it at once.
  absl::StatusOr<LxdOperation> Async(absl::string_view method, absl::string_view path,
                                     const Json& body, absl::string_view what);
  // Waits until the operation ends or `timeout` passes (DeadlineExceeded).
  // An operation that failed becomes an error carrying LXD's message.
  // `cancelled`, when given, is polled about once a second (→ Cancelled).
  absl::StatusOr<LxdOperation> Wait(const std::string& operation_id, std::chrono::seconds timeout,
                                    absl::string_view what,
                                    const std::function<bool()>& cancelled = nullptr);
  // Async + Wait.
  absl::StatusOr<LxdOperation> Run(absl::string_view method, absl::string_view path,
                                   const Json& body, std::chrono::seconds timeout,
                                   absl::string_view what,
                                   const std::function<bool()>& cancelled = nullptr);

  // Streams the host file at `source` as the request body (uploads of any
  // size; nothing is held in memory). Returns the parsed LXD response
  // envelope's metadata (sync) or the operation (async; see `operation`).
  struct Upload {
    std::filesystem::path source;
    std::vector<std::string> headers;  // "X-LXD-uid: 0", ...
  };
  absl::StatusOr<Json> UploadSync(absl::string_view path, const Upload& upload,
                                  absl::string_view what);
  absl::StatusOr<LxdOperation> UploadAsync(absl::string_view path, const Upload& upload,
                                           absl::string_view what);
  // POSTs `data` (small, in memory) as a raw body; sync answer.
  absl::StatusOr<Json> PostBytes(absl::string_view path, absl::string_view data,
                                 const std::vector<std::string>& headers, absl::string_view what);

  // GETs `path` and hands the body to `sink` as it arrives (downloads of any
  // size). An LXD error answer becomes a Status instead.
  absl::Status Download(absl::string_view path,
                        const std::function<absl::Status(absl::string_view)>& sink,
                        absl::string_view what);

  // Opens a websocket on `path` (e.g. "/1.0/operations/<id>/websocket?secret=…").
  absl::StatusOr<std::unique_ptr<WebSocket>> OpenWebSocket(absl::string_view path,
                                                           absl::string_view what);

  // The full path with the project parameter added.
  std::string WithProject(absl::string_view path) const;

  // One HTTP exchange (implementation detail, public for curl's callbacks).
  struct Call;

 private:
  explicit LxdClient(const LxdEndpoint& endpoint) : endpoint_(endpoint) {}
  absl::StatusOr<Json> Perform(Call& call);
  // A request with an optional JSON body; returns the envelope.
  absl::StatusOr<Json> PerformJson(absl::string_view method, absl::string_view path,
                                   const Json& body, absl::string_view what);
  // The streamed POST behind UploadSync and UploadAsync; returns the envelope.
  absl::StatusOr<Json> PerformUpload(absl::string_view path, const Upload& upload,
                                     absl::string_view what);
  void* AcquireHandle();
  void ReleaseHandle(void* handle);
  void ConfigureTransport(void* handle) const;
  std::string BaseUrl() const;

  LxdEndpoint endpoint_;
  absl::Mutex mu_;
  std::vector<void*> idle_ ABSL_GUARDED_BY(mu_);
};

// "lxd: <what>: <message>" with the code mapped from the HTTP status.
absl::Status LxdError(int http_status, absl::string_view what, absl::string_view message);

}  // namespace sfactory::provider::lxd
