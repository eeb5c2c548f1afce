// One HTTP exchange with LXD: what lxd_requests.cc builds and
// LxdClient::Perform (lxd_client.cc) carries out. Private to the LXD client.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "daemon/provider/lxd/lxd_client.h"

namespace sfactory::provider::lxd {

struct LxdClient::Call {
  std::string method = "GET";
  std::string path;  // with the project parameter
  std::string what;
  std::string body;
  bool has_body = false;
  bool raw_body = false;  // body is not JSON
  std::vector<std::string> headers;
  int upload_fd = -1;
  uint64_t upload_size = 0;
  const std::function<absl::Status(absl::string_view)>* sink = nullptr;
  // No overall time limit (uploads, downloads, operation waits).
  bool long_running = false;
  long timeout_seconds = 0;  // overrides the request timeout when > 0

  // Results.
  long http_status = 0;
  std::string response;
  absl::Status sink_status;
  void* handle = nullptr;
};

}  // namespace sfactory::provider::lxd
