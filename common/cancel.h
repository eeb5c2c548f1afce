// Cancelling long work from another thread: a one-way flag with callbacks,
// and a file descriptor that poll() loops can wait on for it.
#pragma once

#include <atomic>
#include <functional>
#include <map>

#include "absl/synchronization/mutex.h"
#include "common/fs.h"

namespace sfactory {

// A one-way cancel flag with callbacks. Cancel() runs every registered
// callback once (on the cancelling thread); a callback registered after
// Cancel() runs at once. Thread-safe.
class CancelToken {
 public:
  void Cancel();
  bool cancelled() const { return cancelled_.load(); }
  // Returns an id for Unregister(). Unregister blocks while the callback runs.
  int OnCancel(std::function<void()> fn);
  void Unregister(int id);

 private:
  std::atomic<bool> cancelled_{false};
  absl::Mutex mu_;
  int next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, std::function<void()>> callbacks_ ABSL_GUARDED_BY(mu_);
};

// An eventfd that becomes readable when `token` fires (at once when it has
// fired already), for poll() loops; -1 without a token. Unregisters from the
// token on destruction. Owned by the one thread that polls it.
class CancelFd {
 public:
  explicit CancelFd(CancelToken* token);
  ~CancelFd();
  CancelFd(const CancelFd&) = delete;
  CancelFd& operator=(const CancelFd&) = delete;

  int fd() const { return fd_.get(); }
  bool cancelled() const { return token_ != nullptr && token_->cancelled(); }

 private:
  CancelToken* token_;
  Fd fd_;
  int id_ = -1;
};

}  // namespace sfactory
