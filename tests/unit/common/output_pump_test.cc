#include "common/output_pump.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/subprocess.h"

namespace sfactory {
namespace {

// Records every call the pump makes to its sink.
struct Calls {
  std::vector<std::string> calls;
  OutputFn Fn() {
    return [this](absl::string_view b) { calls.emplace_back(b); };
  }
};

struct Pipe {
  Pipe() {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    read_end.Reset(p[0]);
    write_end.Reset(p[1]);
  }
  void Write(absl::string_view s) { REQUIRE(WriteAll(write_end.get(), s).ok()); }
  Fd read_end, write_end;
};

// Polls until every fd of the pump reached end of file.
void PumpToEnd(OutputPump& pump) {
  for (int i = 0; i < 1000 && pump.open(); ++i) REQUIRE(pump.Poll(absl::Seconds(5)).ok());
  REQUIRE(!pump.open());
}

TEST_CASE("OutputPump in line mode joins a line split across reads", "[common][output_pump]") {
  Calls c;
  OutputPump pump(c.Fn(), {Framing::kLines, nullptr});
  pump.Feed(0, "he");
  pump.Feed(0, "llo\nwor");
  CHECK(c.calls == std::vector<std::string>{"hello\n"});
  pump.Feed(0, "ld\nand\nmore\n");
  CHECK(c.calls == std::vector<std::string>{"hello\n", "world\n", "and\n", "more\n"});
}

TEST_CASE("OutputPump hands on a partial last line at Flush", "[common][output_pump]") {
  Calls c;
  OutputPump pump(c.Fn(), {Framing::kLines, nullptr});
  pump.Feed(0, "a\nno newline");
  CHECK(c.calls == std::vector<std::string>{"a\n"});
  pump.Flush();
  pump.Flush();
  CHECK(c.calls == std::vector<std::string>{"a\n", "no newline"});
}

TEST_CASE("OutputPump keeps the partial lines of two sources apart", "[common][output_pump]") {
  Calls c;
  OutputPump pump(c.Fn(), {Framing::kLines, nullptr});
  pump.Feed(0, "out-");
  pump.Feed(1, "err\n");
  pump.Feed(0, "line\n");
  CHECK(c.calls == std::vector<std::string>{"err\n", "out-line\n"});
}

TEST_CASE("OutputPump in chunk mode passes bytes on as they come", "[common][output_pump]") {
  Calls c;
  OutputPump pump(c.Fn());
  pump.Feed(0, "par");
  pump.Feed(0, "tial\nx");
  pump.Feed(0, "");
  pump.Flush();
  CHECK(c.calls == std::vector<std::string>{"par", "tial\nx"});
}

TEST_CASE("OutputPump cuts a line longer than kMaxLine into pieces", "[common][output_pump]") {
  Calls c;
  OutputPump pump(c.Fn(), {Framing::kLines, nullptr});
  std::string big(OutputPump::kMaxLine + 10, 'x');
  pump.Feed(0, big.substr(0, 100));
  pump.Feed(0, big.substr(100));
  pump.Feed(0, "\n");
  REQUIRE(c.calls.size() == 2);
  CHECK(c.calls[0] == std::string(OutputPump::kMaxLine, 'x'));
  CHECK(c.calls[1] == std::string(10, 'x') + "\n");
}

TEST_CASE("Capture keeps the first bytes up to its limit and counts the rest",
          "[common][output_pump]") {
  Capture cap(5);
  OutputFn fn = cap.Fn();
  fn("abc");
  CHECK(!cap.truncated());
  fn("defg");
  fn("hij");
  CHECK(cap.text() == "abcde");
  CHECK(cap.truncated());
  CHECK(cap.dropped() == 5);
  Capture unlimited;
  unlimited.Append(std::string(1 << 20, 'y'));
  CHECK(unlimited.text().size() == size_t{1} << 20);
  CHECK(!unlimited.truncated());
}

TEST_CASE("Tee hands every byte to both sinks: a log and a capped capture",
          "[common][output_pump]") {
  Calls log;
  Capture cap(4);
  OutputPump pump(Tee(log.Fn(), cap.Fn()), {Framing::kLines, nullptr});
  pump.Feed(0, "one\ntwo\n");
  CHECK(log.calls == std::vector<std::string>{"one\n", "two\n"});
  CHECK(cap.text() == "one\n");
  CHECK(cap.dropped() == 4);
}

TEST_CASE("OutputPump reads a pipe to its end, lines split across writes",
          "[common][output_pump]") {
  Calls c;
  OutputPump pump(c.Fn(), {Framing::kLines, nullptr});
  Pipe p;
  pump.AddFd(std::move(p.read_end));
  p.Write("first li");
  REQUIRE(pump.Poll(absl::Seconds(5)).ok());
  CHECK(c.calls.empty());
  p.Write("ne\nlast without newline");
  p.write_end.Reset();
  PumpToEnd(pump);
  CHECK(c.calls == std::vector<std::string>{"first line\n", "last without newline"});
}

TEST_CASE("OutputPump keeps stdout and stderr lines whole when they interleave",
          "[common][output_pump]") {
  Calls c;
  OutputPump pump(c.Fn(), {Framing::kLines, nullptr});
  Pipe out, err;
  int out_source = pump.AddFd(std::move(out.read_end));
  int err_source = pump.AddFd(std::move(err.read_end));
  CHECK(out_source != err_source);
  out.Write("out-");
  REQUIRE(pump.Poll(absl::Seconds(5)).ok());
  err.Write("err-1\n");
  REQUIRE(pump.Poll(absl::Seconds(5)).ok());
  out.Write("1\n");
  out.write_end.Reset();
  err.write_end.Reset();
  PumpToEnd(pump);
  CHECK(c.calls == std::vector<std::string>{"err-1\n", "out-1\n"});
}

TEST_CASE("OutputPump Poll reports the caller's extra fds and waits no longer than asked",
          "[common][output_pump]") {
  Calls c;
  OutputPump pump(c.Fn());
  Pipe extra;
  pollfd p{extra.read_end.get(), POLLIN, 0};
  absl::Time start = absl::Now();
  REQUIRE(pump.Poll(absl::Milliseconds(50), absl::MakeSpan(&p, 1)).ok());
  CHECK(p.revents == 0);
  CHECK(absl::Now() - start >= absl::Milliseconds(40));
  extra.Write("x");
  REQUIRE(pump.Poll(absl::Seconds(5), absl::MakeSpan(&p, 1)).ok());
  CHECK((p.revents & POLLIN) != 0);
  CHECK(c.calls.empty());  // extra fds are the caller's to read
}

TEST_CASE("OutputPump Poll wakes when the cancel token fires", "[common][output_pump]") {
  CancelToken cancel;
  Calls c;
  OutputPump pump(c.Fn(), {Framing::kChunks, &cancel});
  Pipe p;
  pump.AddFd(std::move(p.read_end));
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cancel.Cancel();
  });
  absl::Time start = absl::Now();
  REQUIRE(pump.Poll(absl::InfiniteDuration()).ok());
  CHECK(pump.cancelled());
  CHECK(absl::Now() - start < absl::Seconds(5));
  t.join();
  // Once seen, the token does not wake Poll again.
  start = absl::Now();
  REQUIRE(pump.Poll(absl::Milliseconds(50)).ok());
  CHECK(absl::Now() - start >= absl::Milliseconds(40));
}

TEST_CASE("Cancel stops a child that prints forever", "[common][output_pump]") {
  CancelToken cancel;
  std::atomic<size_t> bytes{0};
  std::thread canceller([&] {
    for (int i = 0; i < 1000 && bytes.load() < 100000; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    cancel.Cancel();
  });
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", "while :; do echo spam spam spam; done"};
  o.env = ScrubbedEnv();
  RunToSinkOptions run;
  run.framing = Framing::kLines;
  run.cancel = &cancel;
  bool whole_lines = true;
  absl::Time start = absl::Now();
  auto rc = RunToSink(
      o,
      [&](absl::string_view line) {
        whole_lines = whole_lines && line == "spam spam spam\n";
        bytes += line.size();
      },
      run);
  canceller.join();
  REQUIRE(!rc.ok());
  CHECK(rc.status().code() == absl::StatusCode::kCancelled);
  CHECK(bytes.load() >= 100000);
  CHECK(whole_lines);
  CHECK(absl::Now() - start < absl::Seconds(15));
}

TEST_CASE("RunToSink interleaves stdout and stderr as the child wrote them",
          "[common][output_pump]") {
  Calls c;
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", "echo o1; echo e1 >&2; echo o2; echo e2 >&2; printf tail >&2"};
  o.env = ScrubbedEnv();
  RunToSinkOptions run;
  run.framing = Framing::kLines;
  auto rc = RunToSink(o, c.Fn(), run);
  REQUIRE(rc.ok());
  CHECK(*rc == 0);
  CHECK(c.calls == std::vector<std::string>{"o1\n", "e1\n", "o2\n", "e2\n", "tail"});
}

}  // namespace
}  // namespace sfactory
