#include "common/output_pump.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>

#include "common/status.h"

namespace sfactory {
namespace {

constexpr size_t kReadSize = 64 << 10;

// poll()'s timeout in whole milliseconds, rounded up so that a loop waiting
// for a deadline does not spin through zero-millisecond polls.
int PollMillis(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return -1;
  if (timeout <= absl::ZeroDuration()) return 0;
  double ms = std::ceil(absl::ToDoubleMilliseconds(timeout));
  return ms > 1e9 ? 1000000000 : static_cast<int>(ms);
}

}  // namespace

void Capture::Append(absl::string_view bytes) {
  size_t room = text_.size() < limit_ ? limit_ - text_.size() : 0;
  size_t kept = bytes.size() < room ? bytes.size() : room;
  text_.append(bytes.data(), kept);
  dropped_ += bytes.size() - kept;
}

OutputFn Capture::Fn() {
  return [this](absl::string_view bytes) { Append(bytes); };
}

OutputFn Tee(OutputFn first, OutputFn second) {
  return [first = std::move(first), second = std::move(second)](absl::string_view bytes) {
    first(bytes);
    second(bytes);
  };
}

OutputPump::OutputPump(OutputFn sink, Options options)
    : sink_(std::move(sink)), framing_(options.framing), cancel_(options.cancel) {}

OutputPump::Source& OutputPump::SourceAt(int source) {
  if (static_cast<size_t>(source) >= sources_.size()) sources_.resize(source + 1);
  return sources_[source];
}

void OutputPump::Feed(int source, absl::string_view bytes) {
  if (bytes.empty()) return;
  if (framing_ == Framing::kChunks) {
    sink_(bytes);
    return;
  }
  std::string& partial = SourceAt(source).partial;
  while (!bytes.empty()) {
    size_t nl = bytes.find('\n');
    size_t take = nl == absl::string_view::npos ? bytes.size() : nl + 1;
    if (partial.size() + take > kMaxLine) take = kMaxLine - partial.size();
    bool line_ends = take > 0 && bytes[take - 1] == '\n';
    if (partial.empty() && line_ends) {
      sink_(bytes.substr(0, take));  // the common case: no copy
    } else {
      partial.append(bytes.data(), take);
      if (line_ends || partial.size() >= kMaxLine) {
        sink_(partial);
        partial.clear();
      }
    }
    bytes.remove_prefix(take);
  }
}

void OutputPump::Flush() {
  for (Source& s : sources_) {
    if (s.partial.empty()) continue;
    sink_(s.partial);
    s.partial.clear();
  }
}

int OutputPump::AddFd(Fd fd) {
  sources_.push_back(Source{std::move(fd), {}});
  return static_cast<int>(sources_.size() - 1);
}

bool OutputPump::open() const {
  for (const Source& s : sources_) {
    if (s.fd.valid()) return true;
  }
  return false;
}

absl::Status OutputPump::Poll(absl::Duration timeout, absl::Span<pollfd> extra) {
  // Layout: the sources' fds, then `extra`, then the cancel fd.
  std::vector<pollfd> pfds;
  pfds.reserve(sources_.size() + extra.size() + 1);
  for (const Source& s : sources_) pfds.push_back({s.fd.valid() ? s.fd.get() : -1, POLLIN, 0});
  for (const pollfd& p : extra) pfds.push_back({p.fd, p.events, 0});
  // Once seen, the cancel fd stays readable: leave it out or poll would spin.
  bool watch_cancel = cancel_.fd() >= 0 && !cancel_.cancelled();
  pfds.push_back({watch_cancel ? cancel_.fd() : -1, POLLIN, 0});
  int n = ::poll(pfds.data(), pfds.size(), PollMillis(timeout));
  if (n < 0 && errno != EINTR) return ErrnoStatus(errno, "poll child output");
  for (size_t i = 0; i < extra.size(); ++i) {
    extra[i].revents = n > 0 ? pfds[sources_.size() + i].revents : 0;
  }
  if (n <= 0) return absl::OkStatus();
  char buf[kReadSize];
  for (size_t i = 0; i < sources_.size(); ++i) {
    if (pfds[i].fd < 0 || pfds[i].revents == 0) continue;
    ssize_t got = ::read(pfds[i].fd, buf, sizeof buf);
    if (got > 0) {
      Feed(static_cast<int>(i), absl::string_view(buf, static_cast<size_t>(got)));
      continue;
    }
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    int err = errno;
    Source& s = sources_[i];
    s.fd.Reset();
    if (!s.partial.empty()) {  // the stream's last line had no "\n"
      sink_(s.partial);
      s.partial.clear();
    }
    if (got < 0) return ErrnoStatus(err, "read child output");
  }
  return absl::OkStatus();
}

}  // namespace sfactory
