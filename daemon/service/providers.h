// The wiring that depends on which provider and packager a daemon uses.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "daemon/runner/runner.h"
#include "daemon/config/config.h"
#include "daemon/provider/provider.h"

namespace sfactory::service {

// provider: local → the local provider; lxd → LXD (an error when the `lxd:`
// section is broken); auto → LXD when it answers, else local.
absl::StatusOr<std::unique_ptr<provider::Provider>> MakeProvider(const config::Config& config);

// Checks the provider sections the config loader leaves to their provider
// (`lxd:`), so that a broken one is a config error (exit 2, also for
// --show-config) whichever provider is selected, not a failed start.
absl::Status ValidateProviderConfig(const config::Config& config);

// The packaging step the runner calls, with this daemon's settings
// (compression, SOURCE_DATE_EPOCH, module templates).
runner::PackageFn MakePackageFn(const config::Config& config);

// How a failed build's debug bundle is archived: a deterministic tar.gz
// with every mtime at SOURCE_DATE_EPOCH.
runner::BundleFn MakeBundleFn(const config::Config& config);

}  // namespace sfactory::service
