// Moving a child's output to where it belongs (a build log, a string, both)
// while the child runs. One OutputPump per run, used by one thread.
//
// The pump has two halves. The feed half takes bytes from anywhere (a pipe,
// a websocket frame) and hands them to the sink as they come or as whole
// lines. The fd half polls pipes the pump owns (plus any fds the caller waits
// on, and the cancel token) and feeds what it reads. RunToSink
// (common/subprocess.h) drives both for a local child; LXD exec feeds
// websocket frames into the feed half and polls through it.
#pragma once

#include <poll.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/cancel.h"
#include "common/fs.h"

namespace sfactory {

// Where output goes. Called on the pumping thread only.
using OutputFn = std::function<void(absl::string_view bytes)>;

enum class Framing {
  kChunks,  // bytes as they arrive, in pieces of any size
  kLines,   // one line a call, "\n" included; see OutputPump::kMaxLine
};

// Keeps the first `limit` bytes it is given; counts the rest.
class Capture {
 public:
  static constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();
  explicit Capture(size_t limit = kNoLimit) : limit_(limit) {}

  void Append(absl::string_view bytes);
  // An OutputFn that appends here; valid while this Capture lives.
  OutputFn Fn();

  const std::string& text() const { return text_; }
  std::string Take() { return std::move(text_); }
  // Bytes that did not fit under the limit.
  uint64_t dropped() const { return dropped_; }
  bool truncated() const { return dropped_ > 0; }

 private:
  size_t limit_;
  std::string text_;
  uint64_t dropped_ = 0;
};

// Hands every call to `first`, then to `second`.
OutputFn Tee(OutputFn first, OutputFn second);

class OutputPump {
 public:
  // A line longer than this goes to the sink in pieces of this size, so a
  // child that never prints "\n" cannot make the pump hold unbounded memory.
  static constexpr size_t kMaxLine = 64 << 10;

  struct Options {
    Framing framing = Framing::kChunks;
    // When set, Poll() also wakes when it fires; see cancelled().
    CancelToken* cancel = nullptr;
  };

  explicit OutputPump(OutputFn sink) : OutputPump(std::move(sink), Options()) {}
  OutputPump(OutputFn sink, Options options);
  OutputPump(const OutputPump&) = delete;
  OutputPump& operator=(const OutputPump&) = delete;

  // The feed half. `source` (0, 1, ...) keeps the partial lines of
  // different streams apart, so stdout and stderr lines never mix.
  void Feed(int source, absl::string_view bytes);
  // Hands on every partial last line (kLines). Call once the sources ended.
  void Flush();

  // The fd half. Reads `fd` as a new source until end of file; returns the
  // source number its bytes are fed as.
  int AddFd(Fd fd);
  // True while an added fd has not reached end of file.
  bool open() const;

  // Waits up to `timeout` (infinite allowed) until an open fd is readable,
  // one of `extra` has events (their revents are set for the caller), or the
  // cancel token fires; then reads once from every readable fd and feeds it.
  // An fd at end of file or in error is closed (its partial line handed on).
  // Errors: poll() or read() failing.
  absl::Status Poll(absl::Duration timeout, absl::Span<pollfd> extra = {});
  // True once the cancel token fired. Poll() stops waking for it then.
  bool cancelled() const { return cancel_.cancelled(); }

 private:
  struct Source {
    Fd fd;
    std::string partial;  // kLines: bytes after the last "\n"
  };
  Source& SourceAt(int source);

  OutputFn sink_;
  const Framing framing_;
  CancelFd cancel_;
  std::vector<Source> sources_;
};

}  // namespace sfactory
