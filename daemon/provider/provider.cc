#include "daemon/provider/provider.h"

namespace sfactory::provider {

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

}  // namespace sfactory::provider
