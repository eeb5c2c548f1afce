#include "common/cancel.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace sfactory {

void CancelToken::Cancel() {
  if (cancelled_.exchange(true)) return;
  absl::MutexLock lock(&mu_);
  for (auto& [id, fn] : callbacks_) fn();
}

int CancelToken::OnCancel(std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  if (cancelled_.load()) {
    fn();
    return -1;
  }
  int id = next_id_++;
  callbacks_.emplace(id, std::move(fn));
  return id;
}

void CancelToken::Unregister(int id) {
  absl::MutexLock lock(&mu_);
  callbacks_.erase(id);
}

CancelFd::CancelFd(CancelToken* token) : token_(token) {
  if (token_ == nullptr) return;
  fd_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  // Without an eventfd (out of fds) the loops still see cancelled() on
  // their next round.
  if (!fd_.valid()) return;
  int fd = fd_.get();
  id_ = token_->OnCancel([fd] {
    uint64_t one = 1;
    (void)!::write(fd, &one, sizeof one);
  });
}

CancelFd::~CancelFd() {
  if (token_ != nullptr && id_ >= 0) token_->Unregister(id_);
}

}  // namespace sfactory
