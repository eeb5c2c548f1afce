// The shapes of names that reach sfactory from users, recipes and the
// catalog, so that each is checked by one rule wherever it arrives.
#pragma once

#include "absl/strings/string_view.h"

namespace sfactory {

// A recipe, variant, phase or package name: [a-z][a-z0-9-]*, at most 32
// characters.
bool IsValidName(absl::string_view name);

// A source tarball's file name, as the catalog lists it and `sfactory
// sources add` uploads it: [A-Za-z0-9][A-Za-z0-9._+-]*, at most 201
// characters. It cannot hold a '/' nor be "." or "..".
bool IsValidSourceFileName(absl::string_view name);

}  // namespace sfactory
