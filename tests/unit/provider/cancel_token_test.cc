#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "daemon/provider/provider.h"

namespace sfactory::provider {
namespace {

TEST_CASE("CancelToken runs each registered callback once", "[provider][cancel]") {
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

TEST_CASE("CancelToken runs a callback registered after Cancel at once", "[provider][cancel]") {
  CancelToken token;
  token.Cancel();
  int n = 0;
  int id = token.OnCancel([&] { ++n; });
  CHECK(n == 1);
  token.Unregister(id);  // harmless
  token.Cancel();
  CHECK(n == 1);
}

TEST_CASE("CancelToken Unregister removes a callback", "[provider][cancel]") {
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

TEST_CASE("CancelToken runs callbacks on the cancelling thread", "[provider][cancel]") {
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

TEST_CASE("CancelToken Unregister waits for a running callback", "[provider][cancel]") {
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

TEST_CASE("CancelToken called from many threads runs each callback once", "[provider][cancel]") {
  CancelToken token;
  std::atomic<int> n{0};
  for (int i = 0; i < 10; ++i) token.OnCancel([&] { ++n; });
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&] { token.Cancel(); });
  for (auto& t : threads) t.join();
  CHECK(n == 10);
}

}  // namespace
}  // namespace sfactory::provider
