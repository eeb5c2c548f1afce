#include "common/cancel.h"

#include <poll.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

namespace sfactory {
namespace {

TEST_CASE("CancelToken runs each registered callback once", "[common][cancel]") {
  CancelToken token;
  int a = 0, b = 0;
  token.OnCancel([&] { ++a; });
  token.OnCancel([&] { ++b; });
  CHECK(!token.cancelled());
  CHECK(a == 0);
  token.Cancel();
  token.Cancel();
  CHECK(token.cancelled());
  CHECK(a == 1);
  CHECK(b == 1);
}

TEST_CASE("CancelToken runs a callback registered after Cancel at once", "[common][cancel]") {
  CancelToken token;
  token.Cancel();
  int n = 0;
  int id = token.OnCancel([&] { ++n; });
  CHECK(n == 1);
  token.Unregister(id);  // harmless
  token.Cancel();
  CHECK(n == 1);
}

TEST_CASE("CancelToken Unregister removes a callback", "[common][cancel]") {
  CancelToken token;
  int removed = 0, kept = 0;
  int id = token.OnCancel([&] { ++removed; });
  int other = token.OnCancel([&] { ++kept; });
  CHECK(id != other);
  token.Unregister(id);
  token.Cancel();
  CHECK(removed == 0);
  CHECK(kept == 1);
}

TEST_CASE("CancelToken runs callbacks on the cancelling thread", "[common][cancel]") {
  CancelToken token;
  std::thread::id ran_on;
  token.OnCancel([&] { ran_on = std::this_thread::get_id(); });
  std::thread::id canceller;
  std::thread t([&] {
    canceller = std::this_thread::get_id();
    token.Cancel();
  });
  t.join();
  CHECK(ran_on == canceller);
}

TEST_CASE("CancelToken Unregister waits for a running callback", "[common][cancel]") {
  CancelToken token;
  std::atomic<bool> started{false}, finished{false};
  int id = token.OnCancel([&] {
    started = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    finished = true;
  });
  std::thread t([&] { token.Cancel(); });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  token.Unregister(id);
  CHECK(finished);
  t.join();
}

TEST_CASE("CancelToken called from many threads runs each callback once", "[common][cancel]") {
  CancelToken token;
  std::atomic<int> n{0};
  for (int i = 0; i < 10; ++i) token.OnCancel([&] { ++n; });
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&] { token.Cancel(); });
  for (auto& t : threads) t.join();
  CHECK(n == 10);
}

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN) != 0;
}

TEST_CASE("CancelFd becomes readable when its token fires", "[common][cancel]") {
  CancelToken token;
  CancelFd fd(&token);
  REQUIRE(fd.fd() >= 0);
  CHECK(!Readable(fd.fd(), 0));
  CHECK(!fd.cancelled());
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    token.Cancel();
  });
  CHECK(Readable(fd.fd(), 5000));
  CHECK(fd.cancelled());
  t.join();
}

TEST_CASE("CancelFd of a token that fired already is readable at once", "[common][cancel]") {
  CancelToken token;
  token.Cancel();
  CancelFd fd(&token);
  CHECK(Readable(fd.fd(), 0));
}

TEST_CASE("CancelFd without a token has no fd and never cancels", "[common][cancel]") {
  CancelFd fd(nullptr);
  CHECK(fd.fd() == -1);
  CHECK(!fd.cancelled());
}

TEST_CASE("CancelFd unregisters from its token when it goes", "[common][cancel]") {
  CancelToken token;
  { CancelFd fd(&token); }
  token.Cancel();  // must not write to a closed (maybe reused) fd
  CHECK(token.cancelled());
}

}  // namespace
}  // namespace sfactory
