// Shared helpers for the tests that drive a real LXD.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "daemon/provider/lxd/lxd_options.h"
#include "daemon/provider/provider.h"

namespace sfactory::provider::lxd::testing {

// The LXD project the tests use (never the daemon's own).
inline constexpr char kTestProject[] = "sfactory-test";

// Options for the local LXD and the test project.
LxdOptions TestOptions();
// Kept across runs (the debootstrap package cache).
std::filesystem::path TestCacheDir();
// Packages of the tests' base image: enough to compile a small C program.
std::vector<std::string> TestPackages();
InstanceRequest TestRequest(const std::string& build_id);

// True when LXD answers. A test that needs it starts with
//   if (!LxdAvailable()) SF_SKIP(LxdUnavailableReason());
bool LxdAvailable();
// Why LXD is not available, and how to start it.
std::string LxdUnavailableReason();

// A build id no other test run uses.
std::string UniqueId(const std::string& prefix);

// Collects output; remembers when the first byte matching a needle came.
class RecordingSink : public OutputSink {
 public:
  void Write(absl::string_view bytes) override;
  std::string text() const;
  // Time at which `needle` was first complete in the output, if ever.
  bool SawAt(const std::string& needle, std::chrono::steady_clock::time_point* at) const;
  std::chrono::steady_clock::time_point first_byte() const;
  bool empty() const;

 private:
  mutable absl::Mutex mu_;
  std::string text_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<size_t, std::chrono::steady_clock::time_point>> arrivals_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace sfactory::provider::lxd::testing
