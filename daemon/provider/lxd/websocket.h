// A minimal RFC 6455 websocket client on top of a curl connection opened
// with CURLOPT_CONNECT_ONLY (Debian's libcurl 7.88 is built without its own
// websocket support). Works over the unix socket and over TLS alike, since
// curl_easy_send/recv go through curl's TLS layer.
//
// Not thread-safe: one thread owns a WebSocket.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sfactory::provider::lxd {

class WebSocket {
 public:
  // Takes ownership of `curl` (a CURL* that curl_easy_perform has connected
  // in CONNECT_ONLY mode), sends the upgrade request for `path` and reads the
  // 101 answer.
  static absl::StatusOr<std::unique_ptr<WebSocket>> Handshake(void* curl, absl::string_view host,
                                                              absl::string_view path);
  ~WebSocket();
  WebSocket(const WebSocket&) = delete;
  WebSocket& operator=(const WebSocket&) = delete;

  // The socket to poll() for reading.
  int fd() const { return fd_; }
  // True once the peer sent a close frame, an end-of-stream (an empty text
  // message, what older LXD sends), or the connection dropped.
  bool finished() const { return finished_; }

  // Reads whatever is available without blocking and hands the payload of
  // data frames to `on_data` as whole frames arrive. Answers pings and close
  // frames. Call it whenever fd() is readable (or periodically: TLS may hold
  // decrypted bytes that poll() does not see).
  absl::Status Pump(const std::function<void(absl::string_view)>& on_data);

  absl::Status SendText(absl::string_view text);
  absl::Status SendBinary(absl::string_view data);
  // Sends a close frame (once); the connection stays open to read the rest.
  absl::Status SendClose();

 private:
  explicit WebSocket(void* curl, int fd) : curl_(curl), fd_(fd) {}
  absl::Status SendFrame(int opcode, absl::string_view payload);
  absl::Status SendRaw(absl::string_view bytes);
  // Parses complete frames out of in_.
  absl::Status ParseFrames(const std::function<void(absl::string_view)>& on_data);

  void* curl_;
  int fd_;
  std::string in_;
  bool finished_ = false;
  bool close_sent_ = false;
  // Opcode of the message being reassembled from continuation frames.
  int message_opcode_ = 0;
  size_t message_bytes_ = 0;
};

}  // namespace sfactory::provider::lxd
