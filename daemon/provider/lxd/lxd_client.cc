// LxdClient's transport: endpoint checks, the curl handle pool, one HTTP
// exchange (Perform) and websocket connections. The requests built on them
// are in lxd_requests.cc.
#include "daemon/provider/lxd/lxd_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/fs.h"
#include "common/status.h"
#include "daemon/provider/lxd/lxd_call.h"

namespace sfactory::provider::lxd {
namespace {

CURL* Curl(void* p) { return static_cast<CURL*>(p); }

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Bodies of answers we keep in memory (JSON envelopes, error texts).
constexpr size_t kMaxResponse = 64 << 20;

}  // namespace

std::string UrlEncode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

std::string FindLxdSocket() {
  std::vector<std::string> candidates;
  if (const char* s = std::getenv("LXD_SOCKET"); s && *s) candidates.emplace_back(s);
  if (const char* d = std::getenv("LXD_DIR"); d && *d) candidates.push_back(absl::StrCat(d, "/unix.socket"));
  candidates.emplace_back("/var/snap/lxd/common/lxd/unix.socket");
  candidates.emplace_back("/var/lib/lxd/unix.socket");
  for (const auto& c : candidates) {
    struct stat st;
    if (::stat(c.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return c;
  }
  return "/var/lib/lxd/unix.socket";
}

absl::Status LxdError(int http_status, absl::string_view what, absl::string_view message) {
  std::string msg = absl::StrCat("lxd: ", what, ": ", message);
  // LXD says so only in words, with varying codes; it is an outage, not a fault.
  if (absl::StrContains(message, "LXD is shutting down")) return absl::UnavailableError(msg);
  switch (http_status) {
    case 400:
      return absl::FailedPreconditionError(msg);
    case 401:
    case 403:
      return absl::PermissionDeniedError(msg);
    case 404:
      return absl::NotFoundError(msg);
    case 409:
      return absl::AlreadyExistsError(msg);
    case 503:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::StatusOr<std::unique_ptr<LxdClient>> LxdClient::Create(const LxdEndpoint& endpoint) {
  GlobalInit();
  LxdEndpoint ep = endpoint;
  if (ep.url.empty()) {
    if (ep.socket.empty()) ep.socket = FindLxdSocket();
  } else {
    if (!absl::StartsWith(ep.url, "https://")) {
      return absl::InvalidArgumentError(
          absl::StrCat("lxd url '", ep.url, "' must start with https://"));
    }
    while (absl::EndsWith(ep.url, "/")) ep.url.pop_back();
    if (ep.client_cert.empty() || ep.client_key.empty()) {
      return absl::InvalidArgumentError(
          "lxd: a remote url needs client_cert and client_key (PEM files that the LXD server "
          "trusts: `lxc config trust add <cert>` on the server)");
    }
    for (const std::string* f : {&ep.client_cert, &ep.client_key, &ep.server_cert}) {
      if (f->empty()) continue;
      if (::access(f->c_str(), R_OK) != 0) {
        return ErrnoStatus(errno, absl::StrCat("lxd: cannot read ", *f));
      }
    }
  }
  return std::unique_ptr<LxdClient>(new LxdClient(ep));
}

LxdClient::~LxdClient() {
  absl::MutexLock lock(&mu_);
  for (void* h : idle_) curl_easy_cleanup(Curl(h));
}

std::string LxdClient::Describe() const {
  return endpoint_.url.empty() ? absl::StrCat("unix:", endpoint_.socket) : endpoint_.url;
}

std::string LxdClient::BaseUrl() const {
  return endpoint_.url.empty() ? std::string("http://lxd") : endpoint_.url;
}

std::string LxdClient::WithProject(absl::string_view path) const {
  if (endpoint_.project.empty() || path == "/1.0" || absl::StartsWith(path, "/1.0/projects") ||
      absl::StartsWith(path, "/1.0/certificates") || absl::StrContains(path, "project=")) {
    return std::string(path);
  }
  return absl::StrCat(path, absl::StrContains(path, "?") ? "&" : "?",
                      "project=", UrlEncode(endpoint_.project));
}

void* LxdClient::AcquireHandle() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      curl_easy_reset(Curl(h));
      return h;
    }
  }
  return curl_easy_init();
}

void LxdClient::ReleaseHandle(void* handle) {
  absl::MutexLock lock(&mu_);
  if (idle_.size() < 8) {
    idle_.push_back(handle);
  } else {
    curl_easy_cleanup(Curl(handle));
  }
}

void LxdClient::ConfigureTransport(void* handle) const {
  CURL* c = Curl(handle);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(endpoint_.connect_timeout.count()));
  if (endpoint_.url.empty()) {
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, endpoint_.socket.c_str());
  } else {
    // HTTP/1.1 only: a websocket upgrade cannot ride on HTTP/2, and curl
    // would negotiate h2 through ALPN on a CONNECT_ONLY connection.
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(c, CURLOPT_SSL_ENABLE_ALPN, 0L);
    curl_easy_setopt(c, CURLOPT_SSLCERT, endpoint_.client_cert.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, endpoint_.client_key.c_str());
    if (!endpoint_.server_cert.empty()) {
      curl_easy_setopt(c, CURLOPT_CAINFO, endpoint_.server_cert.c_str());
      // LXD's own certificate names the host, not the address it listens on,
      // so a pinned certificate is checked by its signature alone.
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
  }
}

namespace {

size_t WriteCallback(char* data, size_t size, size_t nmemb, void* userp) {
  auto* call = static_cast<LxdClient::Call*>(userp);
  size_t n = size * nmemb;
  if (call->sink != nullptr) {
    long code = 0;
    curl_easy_getinfo(Curl(call->handle), CURLINFO_RESPONSE_CODE, &code);
    if (code == 200) {
      call->sink_status = (*call->sink)(absl::string_view(data, n));
      return call->sink_status.ok() ? n : 0;
    }
  }
  if (call->response.size() + n > kMaxResponse) return 0;
  call->response.append(data, n);
  return n;
}

size_t ReadCallback(char* buffer, size_t size, size_t nitems, void* userp) {
  auto* call = static_cast<LxdClient::Call*>(userp);
  for (;;) {
    ssize_t n = ::read(call->upload_fd, buffer, size * nitems);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    return CURL_READFUNC_ABORT;
  }
}

}  // namespace

absl::StatusOr<Json> LxdClient::Perform(Call& call) {
  void* handle = AcquireHandle();
  if (handle == nullptr) return absl::InternalError("lxd: curl_easy_init failed");
  call.handle = handle;
  CURL* c = Curl(handle);
  ConfigureTransport(handle);
  std::string url = BaseUrl() + call.path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Expect:");
  for (const auto& h : call.headers) headers = curl_slist_append(headers, h.c_str());
  if (call.has_body) {
    if (!call.raw_body) headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, call.body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body.size()));
  } else if (call.upload_fd >= 0) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadCallback);
    curl_easy_setopt(c, CURLOPT_READDATA, &call);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.upload_size));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteCallback);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &call);
  if (call.timeout_seconds > 0) {
    curl_easy_setopt(c, CURLOPT_TIMEOUT, call.timeout_seconds);
  } else if (!call.long_running) {
    curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(endpoint_.request_timeout.count()));
  } else {
    // A stalled transfer (no byte for 5 minutes) still ends.
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 300L);
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

  CURLcode rc = curl_easy_perform(c);
  long os_errno = 0;
  curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &call.http_status);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  ReleaseHandle(handle);
  call.handle = nullptr;

  if (!call.sink_status.ok()) return Annotate(call.sink_status, absl::StrCat("lxd: ", call.what));
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (os_errno != 0) absl::StrAppend(&detail, " (", std::strerror(static_cast<int>(os_errno)), ")");
    std::string msg =
        absl::StrCat("lxd: ", call.what, ": cannot talk to LXD at ", Describe(), ": ", detail);
    if (rc == CURLE_OPERATION_TIMEDOUT) return absl::DeadlineExceededError(msg);
    if (os_errno == EACCES || os_errno == EPERM) return absl::PermissionDeniedError(msg);
    return absl::UnavailableError(msg);
  }
  if (call.sink != nullptr && call.http_status == 200) return Json();

  Json envelope = Json::parse(call.response, nullptr, /*allow_exceptions=*/false);
  if (envelope.is_discarded() || !envelope.is_object()) {
    if (call.http_status >= 400) {
      return LxdError(static_cast<int>(call.http_status), call.what,
                      absl::StrCat("HTTP ", call.http_status, ": ", call.response.substr(0, 500)));
    }
    return absl::InternalError(absl::StrCat("lxd: ", call.what, ": answer is not JSON: ",
                                            call.response.substr(0, 200)));
  }
  if (envelope.value("type", "") == "error" || call.http_status >= 400) {
    int code = envelope.value("error_code", static_cast<int>(call.http_status));
    return LxdError(code, call.what, envelope.value("error", std::string("unknown error")));
  }
  return envelope;
}

absl::StatusOr<std::unique_ptr<WebSocket>> LxdClient::OpenWebSocket(absl::string_view path,
                                                                    absl::string_view what) {
  CURL* c = curl_easy_init();
  if (c == nullptr) return absl::InternalError("lxd: curl_easy_init failed");
  ConfigureTransport(c);
  std::string full = WithProject(path);
  std::string url = BaseUrl() + full;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  if (rc != CURLE_OK) {
    curl_easy_cleanup(c);
    return absl::UnavailableError(absl::StrCat("lxd: ", what, ": cannot connect to LXD at ",
                                               Describe(), ": ",
                                               errbuf[0] ? errbuf : curl_easy_strerror(rc)));
  }
  std::string host = "lxd";
  if (!endpoint_.url.empty()) host = std::string(absl::StripPrefix(endpoint_.url, "https://"));
  auto ws = WebSocket::Handshake(c, host, full);
  if (!ws.ok()) return Annotate(ws.status(), absl::StrCat("lxd: ", what));
  return ws;
}

}  // namespace sfactory::provider::lxd
