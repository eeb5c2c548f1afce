// The `local` provider: each instance is a private directory under the
// provider's root, and phases run as host processes in their own process
// group with a scrubbed environment. No isolation beyond that: it is for
// development, tests and single-user hosts. The source cache is only
// read-only by convention here.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "daemon/provider/provider.h"

namespace sfactory::provider {

// `root` holds one directory per instance; it is created if missing. It
// builds for the host only: `host_os` is the one OS a spec may name.
absl::StatusOr<std::unique_ptr<Provider>> MakeLocalProvider(const std::filesystem::path& root,
                                                            std::string host_os = "debian-12");

}  // namespace sfactory::provider
