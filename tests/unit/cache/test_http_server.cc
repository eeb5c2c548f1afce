#include "tests/unit/cache/test_http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sfactory::testing {

TestHttpServer::TestHttpServer(std::map<std::string, std::string> files)
    : files_(std::move(files)) {
  listen_.Reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(listen_.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listen_.get(), 16) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  port_ = ntohs(addr.sin_port);
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  stop_read_.Reset(p[0]);
  stop_write_.Reset(p[1]);
  thread_ = std::thread([this] { Serve(); });
}

TestHttpServer::~TestHttpServer() {
  stop_write_.Reset();  // EOF on stop_read_ ends Serve()
  if (thread_.joinable()) thread_.join();
}

std::string TestHttpServer::Url(const std::string& path) const {
  return absl::StrCat("http://127.0.0.1:", port_, path);
}

std::vector<std::string> TestHttpServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

void TestHttpServer::Serve() {
  for (;;) {
    pollfd fds[2] = {{listen_.get(), POLLIN, 0}, {stop_read_.get(), POLLIN, 0}};
    int r = ::poll(fds, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || fds[1].revents != 0) return;
    Fd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (conn.valid()) Answer(conn.get());
  }
}

void TestHttpServer::FailFirst(const std::string& path, int times) {
  absl::MutexLock lock(&mu_);
  fail_first_[path] = times;
}

void TestHttpServer::Answer(int fd) {
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  // "GET /path HTTP/1.1"
  std::vector<std::string> words = absl::StrSplit(request.substr(0, request.find("\r\n")), ' ');
  std::string path = words.size() >= 2 ? words[1] : "";
  bool unavailable = false;
  {
    absl::MutexLock lock(&mu_);
    requests_.push_back(path);
    auto f = fail_first_.find(path);
    if (f != fail_first_.end() && f->second > 0) {
      --f->second;
      unavailable = true;
    }
  }
  auto it = files_.find(path);
  std::string response =
      unavailable
          ? std::string("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n"
                        "Connection: close\r\n\r\nbusy\n")
      : it == files_.end()
          ? std::string(
                "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
                "not found\n")
          : absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n",
                         "Content-Length: ", it->second.size(), "\r\nConnection: close\r\n\r\n",
                         it->second);
  (void)WriteAll(fd, response);
}

}  // namespace sfactory::testing
