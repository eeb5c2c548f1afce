// A tiny HTTP server for tests: 127.0.0.1 on a kernel-chosen port, serving
// fixed bodies by path and 404 for anything else, one request per
// connection. It records the paths it was asked for.
#pragma once

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/fs.h"

namespace sfactory::testing {

class TestHttpServer {
 public:
  // Starts serving `files` (path such as "/a.tar.gz" → body). Fails the
  // current test when the socket cannot be set up.
  explicit TestHttpServer(std::map<std::string, std::string> files);
  // The first `times` requests of `path` get 503 Service Unavailable.
  void FailFirst(const std::string& path, int times);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  int port() const { return port_; }
  std::string Url(const std::string& path) const;
  std::vector<std::string> requests() const;

 private:
  void Serve();
  void Answer(int fd);

  const std::map<std::string, std::string> files_;
  Fd listen_;
  Fd stop_read_, stop_write_;
  int port_ = 0;
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> fail_first_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sfactory::testing
