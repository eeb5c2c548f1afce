#include "daemon/packaging/version.h"

namespace sfactory::packaging {

absl::string_view SfactoryVersion() { return SFACTORY_VERSION; }

}  // namespace sfactory::packaging
