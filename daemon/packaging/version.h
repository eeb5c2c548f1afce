// The sfactory version recorded in manifests and module files.
#pragma once

#include "absl/strings/string_view.h"

namespace sfactory::packaging {

// The project version CMake was configured with, e.g. "0.1.0".
absl::string_view SfactoryVersion();

}  // namespace sfactory::packaging
