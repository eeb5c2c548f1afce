#include "daemon/provider/lxd/websocket.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <poll.h>

#include <chrono>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace sfactory::provider::lxd {
namespace {

constexpr int kContinuation = 0x0;
constexpr int kText = 0x1;
constexpr int kBinary = 0x2;
constexpr int kClose = 0x8;
constexpr int kPing = 0x9;
constexpr int kPong = 0xA;
constexpr auto kIoTimeout = std::chrono::seconds(60);

std::string Base64(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, size);
  out.resize(n);
  return out;
}

CURL* Curl(void* p) { return static_cast<CURL*>(p); }

// Waits until `fd` is ready for `events` or the deadline passes.
absl::Status WaitFd(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return absl::DeadlineExceededError("websocket: timed out");
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r > 0) return absl::OkStatus();
    if (r < 0 && errno != EINTR) return absl::UnavailableError("websocket: poll failed");
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<WebSocket>> WebSocket::Handshake(void* curl, absl::string_view host,
                                                                absl::string_view path) {
  curl_socket_t sock = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(Curl(curl), CURLINFO_ACTIVESOCKET, &sock) != CURLE_OK ||
      sock == CURL_SOCKET_BAD) {
    curl_easy_cleanup(Curl(curl));
    return absl::UnavailableError("websocket: no connected socket");
  }
  std::unique_ptr<WebSocket> ws(new WebSocket(curl, static_cast<int>(sock)));

  unsigned char nonce[16];
  RAND_bytes(nonce, sizeof nonce);
  std::string key = Base64(nonce, sizeof nonce);
  std::string request = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", host,
                                     "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                     "Sec-WebSocket-Key: ",
                                     key, "\r\nSec-WebSocket-Version: 13\r\n\r\n");
  if (absl::Status s = ws->SendRaw(request); !s.ok()) return s;

  auto deadline = std::chrono::steady_clock::now() + kIoTimeout;
  std::string& in = ws->in_;
  size_t end;
  while ((end = in.find("\r\n\r\n")) == std::string::npos) {
    char buf[4096];
    size_t n = 0;
    CURLcode rc = curl_easy_recv(Curl(curl), buf, sizeof buf, &n);
    if (rc == CURLE_AGAIN) {
      if (absl::Status s = WaitFd(ws->fd_, POLLIN, deadline); !s.ok()) return s;
      continue;
    }
    if (rc != CURLE_OK) {
      return absl::UnavailableError(
          absl::StrCat("websocket: reading the upgrade answer: ", curl_easy_strerror(rc)));
    }
    if (n == 0) return absl::UnavailableError("websocket: connection closed during the upgrade");
    in.append(buf, n);
    if (in.size() > 65536) return absl::InternalError("websocket: upgrade answer too long");
  }
  std::string head = in.substr(0, end);
  in.erase(0, end + 4);
  std::string status_line = head.substr(0, head.find("\r\n"));
  if (!absl::StrContains(status_line, " 101")) {
    // LXD answers a bad secret with a JSON error after the headers.
    return absl::FailedPreconditionError(
        absl::StrCat("websocket: upgrade refused: ", status_line, " ", in));
  }
  unsigned char digest[SHA_DIGEST_LENGTH];
  std::string accept_src = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  SHA1(reinterpret_cast<const unsigned char*>(accept_src.data()), accept_src.size(), digest);
  std::string expected = Base64(digest, sizeof digest);
  if (!absl::StrContains(absl::AsciiStrToLower(head),
                         absl::AsciiStrToLower(absl::StrCat("sec-websocket-accept: ", expected)))) {
    return absl::InternalError("websocket: bad Sec-WebSocket-Accept in the upgrade answer");
  }
  return ws;
}

WebSocket::~WebSocket() { curl_easy_cleanup(Curl(curl_)); }

absl::Status WebSocket::SendRaw(absl::string_view bytes) {
  auto deadline = std::chrono::steady_clock::now() + kIoTimeout;
  while (!bytes.empty()) {
    size_t n = 0;
    CURLcode rc = curl_easy_send(Curl(curl_), bytes.data(), bytes.size(), &n);
    if (rc == CURLE_AGAIN) {
      if (absl::Status s = WaitFd(fd_, POLLOUT, deadline); !s.ok()) return s;
      continue;
    }
    if (rc != CURLE_OK) {
      return absl::UnavailableError(absl::StrCat("websocket: send: ", curl_easy_strerror(rc)));
    }
    bytes.remove_prefix(n);
  }
  return absl::OkStatus();
}

absl::Status WebSocket::SendFrame(int opcode, absl::string_view payload) {
  std::string frame;
  frame.reserve(payload.size() + 14);
  frame.push_back(static_cast<char>(0x80 | opcode));
  size_t len = payload.size();
  if (len < 126) {
    frame.push_back(static_cast<char>(0x80 | len));
  } else if (len < 65536) {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(len >> 8));
    frame.push_back(static_cast<char>(len & 0xff));
  } else {
    frame.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) frame.push_back(static_cast<char>((uint64_t{len} >> (8 * i)) & 0xff));
  }
  unsigned char mask[4];
  RAND_bytes(mask, sizeof mask);
  frame.append(reinterpret_cast<char*>(mask), 4);
  for (size_t i = 0; i < len; ++i) frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return SendRaw(frame);
}

absl::Status WebSocket::SendText(absl::string_view text) { return SendFrame(kText, text); }
absl::Status WebSocket::SendBinary(absl::string_view data) { return SendFrame(kBinary, data); }

absl::Status WebSocket::SendClose() {
  if (close_sent_) return absl::OkStatus();
  close_sent_ = true;
  // Status 1000: normal closure.
  return SendFrame(kClose, absl::string_view("\x03\xe8", 2));
}

absl::Status WebSocket::Pump(const std::function<void(absl::string_view)>& on_data) {
  char buf[65536];
  for (;;) {
    size_t n = 0;
    CURLcode rc = curl_easy_recv(Curl(curl_), buf, sizeof buf, &n);
    if (rc == CURLE_AGAIN) break;
    if (rc != CURLE_OK) {
      bool was_finished = finished_;
      finished_ = true;
      if (was_finished) return absl::OkStatus();
      return absl::UnavailableError(absl::StrCat("websocket: ", curl_easy_strerror(rc)));
    }
    if (n == 0) {
      bool was_finished = finished_;
      finished_ = true;
      if (absl::Status s = ParseFrames(on_data); !s.ok()) return s;
      if (was_finished) return absl::OkStatus();
      return absl::UnavailableError("websocket: connection closed before the end of the stream");
    }
    in_.append(buf, n);
    if (absl::Status s = ParseFrames(on_data); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status WebSocket::ParseFrames(const std::function<void(absl::string_view)>& on_data) {
  size_t pos = 0;
  for (;;) {
    const size_t avail = in_.size() - pos;
    if (avail < 2) break;
    const auto* p = reinterpret_cast<const unsigned char*>(in_.data() + pos);
    bool fin = p[0] & 0x80;
    int opcode = p[0] & 0x0f;
    bool masked = p[1] & 0x80;
    uint64_t len = p[1] & 0x7f;
    size_t header = 2;
    if (len == 126) {
      if (avail < 4) break;
      len = (uint64_t{p[2]} << 8) | p[3];
      header = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      header = 10;
    }
    if (len > (uint64_t{1} << 31)) return absl::InternalError("websocket: frame too large");
    unsigned char mask[4] = {0, 0, 0, 0};
    if (masked) {
      if (avail < header + 4) break;
      std::memcpy(mask, p + header, 4);
      header += 4;
    }
    if (avail < header + len) break;
    std::string payload(in_.data() + pos + header, len);
    if (masked) {
      for (size_t i = 0; i < payload.size(); ++i) payload[i] ^= mask[i % 4];
    }
    pos += header + len;

    switch (opcode) {
      case kContinuation:
      case kText:
      case kBinary: {
        if (opcode != kContinuation) {
          message_opcode_ = opcode;
          message_bytes_ = 0;
        }
        message_bytes_ += payload.size();
        if (!payload.empty() && !finished_) on_data(payload);
        // Older LXD marks the end of a stream with an empty text message.
        if (fin && message_opcode_ == kText && message_bytes_ == 0) finished_ = true;
        break;
      }
      case kClose:
        finished_ = true;
        (void)SendClose();
        break;
      case kPing:
        // A failed pong is not fatal: a broken connection shows up in recv.
        if (!finished_) (void)SendFrame(kPong, payload);
        break;
      case kPong:
        break;
      default:
        return absl::InternalError(absl::StrCat("websocket: unknown opcode ", opcode));
    }
  }
  in_.erase(0, pos);
  return absl::OkStatus();
}

}  // namespace sfactory::provider::lxd
