#include "tests/lxd/lxd_test_util.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "daemon/provider/lxd/lxd_provider.h"

namespace sfactory::provider::lxd::testing {

LxdOptions TestOptions() {
  LxdOptions o;
  o.project = kTestProject;
  o.operation_timeout_seconds = 300;
  // Lets a benchmark run point the tests at another storage pool.
  if (const char* pool = std::getenv("SFACTORY_LXD_TEST_POOL"); pool && *pool) o.storage_pool = pool;
  return o;
}

std::filesystem::path TestCacheDir() {
  return std::filesystem::path(SFACTORY_BINARY_DIR) / "lxd-test-cache";
}

std::vector<std::string> TestPackages() { return {"gcc", "libc6-dev", "make", "zstd"}; }

InstanceRequest TestRequest(const std::string& build_id) {
  InstanceRequest r;
  r.build_id = build_id;
  r.spec.set_slurm_version("24.11.5");
  r.spec.set_recipe("test");
  r.spec.set_os("debian-12");
  r.spec.set_arch("x86_64");
  r.packages = TestPackages();
  return r;
}

bool LxdAvailable() {
  static const bool available = LxdAnswers(TestOptions());
  return available;
}

std::string LxdUnavailableReason() {
  return absl::StrCat("LXD does not answer on ", FindLxdSocket(),
                      " (run scripts/lxd-setup.sh as root to install and start it)");
}

std::string UniqueId(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return absl::StrCat(prefix, "-", ::getpid(), "-", counter++);
}

void RecordingSink::Write(absl::string_view bytes) {
  absl::MutexLock lock(&mu_);
  text_.append(bytes.data(), bytes.size());
  arrivals_.emplace_back(text_.size(), std::chrono::steady_clock::now());
}

std::string RecordingSink::text() const {
  absl::MutexLock lock(&mu_);
  return text_;
}

bool RecordingSink::empty() const {
  absl::MutexLock lock(&mu_);
  return text_.empty();
}

bool RecordingSink::SawAt(const std::string& needle,
                          std::chrono::steady_clock::time_point* at) const {
  absl::MutexLock lock(&mu_);
  size_t pos = text_.find(needle);
  if (pos == std::string::npos) return false;
  size_t end = pos + needle.size();
  for (const auto& [size, when] : arrivals_) {
    if (size >= end) {
      *at = when;
      return true;
    }
  }
  return false;
}

std::chrono::steady_clock::time_point RecordingSink::first_byte() const {
  absl::MutexLock lock(&mu_);
  return arrivals_.empty() ? std::chrono::steady_clock::time_point() : arrivals_.front().second;
}

}  // namespace sfactory::provider::lxd::testing
