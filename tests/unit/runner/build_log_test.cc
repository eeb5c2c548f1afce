#include "daemon/runner/build_log.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fs.h"
#include "tests/test_dir.h"

namespace sfactory::runner {
namespace {

namespace fs = std::filesystem;

using Scratch = ::sfactory::testing::ScratchDir;

std::shared_ptr<BuildLog> OpenLog(const fs::path& path) {
  auto log = BuildLog::Open(path);
  INFO(log.status().ToString());
  REQUIRE(log.ok());
  return *log;
}

TEST_CASE("BuildLog Append writes the bytes and grows size", "[build][log]") {
  Scratch tmp;
  auto log = OpenLog(tmp.path() / "b.log");
  CHECK(log->size() == 0);
  CHECK(!log->closed());
  CHECK(log->path() == tmp.path() / "b.log");
  REQUIRE(log->Append("abc").ok());
  REQUIRE(log->Append("").ok());
  REQUIRE(log->Append("de\n").ok());
  CHECK(log->size() == 6);
  CHECK(*ReadFile(tmp.path() / "b.log") == "abcde\n");
}

TEST_CASE("ReadLogChunk reads from any offset up to a maximum", "[build][log]") {
  Scratch tmp;
  auto log = OpenLog(tmp.path() / "b.log");
  REQUIRE(log->Append("0123456789").ok());
  const fs::path p = log->path();
  CHECK(*ReadLogChunk(p, 0, 100) == "0123456789");
  CHECK(*ReadLogChunk(p, 0, 4) == "0123");
  CHECK(*ReadLogChunk(p, 4, 4) == "4567");
  CHECK(*ReadLogChunk(p, 8, 4) == "89");
  CHECK(*ReadLogChunk(p, 10, 4) == "");
  CHECK(*ReadLogChunk(p, 1000, 4) == "");
  CHECK(*ReadLogChunk(p, 3, 0) == "");
  auto missing = ReadLogChunk(tmp.path() / "missing.log", 0, 10);
  REQUIRE(missing.ok());
  CHECK(missing->empty());
}

TEST_CASE("A watcher reads every byte exactly once while another thread appends", "[build][log]") {
  Scratch tmp;
  auto log = OpenLog(tmp.path() / "b.log");
  std::string expected;
  for (int i = 0; i < 3000; ++i) {
    absl::StrAppend(&expected, "line ", i, std::string(static_cast<size_t>(i % 97), 'x'), "\n");
  }

  std::string got;
  std::thread reader([&] {
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    uint64_t offset = 0;
    while (absl::Now() < give_up) {
      // Generation and closed are read before the file so no wake-up is lost.
      uint64_t gen = log->generation();
      bool closed = log->closed();
      auto chunk = ReadLogChunk(log->path(), offset, 1000);
      if (!chunk.ok()) return;
      if (!chunk->empty()) {
        got += *chunk;
        offset += chunk->size();
        continue;
      }
      if (closed) return;
      log->WaitForChange(offset, gen, absl::Now() + absl::Seconds(5));
    }
  });
  std::thread writer([&] {
    size_t pos = 0;
    int n = 0;
    while (pos < expected.size()) {
      size_t len = std::min<size_t>(1 + (n * 37) % 500, expected.size() - pos);
      (void)log->Append(absl::string_view(expected).substr(pos, len));
      pos += len;
      if (++n % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    log->Close();
  });
  writer.join();
  reader.join();
  CHECK(got.size() == expected.size());
  CHECK(got == expected);
}

TEST_CASE("Touch and Close wake a waiting watcher", "[build][log]") {
  Scratch tmp;
  auto log = OpenLog(tmp.path() / "b.log");
  REQUIRE(log->Append("x").ok());
  for (bool close : {false, true}) {
    INFO((close ? "Close" : "Touch"));
    const uint64_t gen = log->generation();
    std::atomic<bool> woke{false};
    bool changed = false;
    absl::Time start = absl::Now();
    std::thread waiter([&] {
      changed = log->WaitForChange(log->size(), gen, absl::Now() + absl::Seconds(10));
      woke = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(!woke);
    if (close) {
      log->Close();
    } else {
      log->Touch();
    }
    waiter.join();
    CHECK(changed);
    CHECK(absl::Now() - start < absl::Seconds(5));
    CHECK(log->generation() == gen + 1);
  }
  CHECK(log->closed());
  // A closed log answers at once.
  CHECK(log->WaitForChange(log->size(), log->generation(), absl::Now() + absl::Seconds(10)));
}

TEST_CASE("WaitForChange times out when nothing happens", "[build][log]") {
  Scratch tmp;
  auto log = OpenLog(tmp.path() / "b.log");
  REQUIRE(log->Append("abc").ok());
  absl::Time start = absl::Now();
  CHECK(!log->WaitForChange(3, log->generation(), start + absl::Milliseconds(200)));
  absl::Duration waited = absl::Now() - start;
  CHECK(waited >= absl::Milliseconds(190));
  CHECK(waited < absl::Seconds(3));
  // Bytes past the offset, or a generation the caller has not seen, answer at once.
  CHECK(log->WaitForChange(2, log->generation(), absl::InfinitePast()));
  CHECK(log->WaitForChange(3, log->generation() + 1, absl::InfinitePast()));
}

TEST_CASE("Reopening a log appends after the existing bytes", "[build][log]") {
  Scratch tmp;
  const fs::path p = tmp.path() / "b.log";
  {
    auto log = OpenLog(p);
    REQUIRE(log->Append("first run\n").ok());
    log->Close();
  }
  auto log = OpenLog(p);
  CHECK(log->size() == 10);
  CHECK(!log->closed());
  REQUIRE(log->Append("second run\n").ok());
  CHECK(log->size() == 21);
  CHECK(*ReadFile(p) == "first run\nsecond run\n");
}

TEST_CASE("BuildLog Open fails for a path in a missing directory", "[build][log]") {
  Scratch tmp;
  auto log = BuildLog::Open(tmp.path() / "no" / "such" / "b.log");
  CHECK(!log.ok());
}

}  // namespace
}  // namespace sfactory::runner
