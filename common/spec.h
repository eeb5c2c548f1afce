// Build specs: validation, normalisation against the catalog, canonical
// form and digest. A spec that passes NormalizeSpec contains only
// characters from small fixed sets, so it is safe to put into file names and
// phase scripts.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "common/catalog.h"
#include "sfactory/v1/sfactory.pb.h"

namespace sfactory {

struct SpecDefaults {
  std::string recipe = "native";
  std::string os = "debian-12";
  std::string arch = "x86_64";
};

// Checks each field's syntax. InvalidArgument names the field, the bad
// value and the accepted form. Does not consult the catalog.
absl::Status ValidateSpec(const v1::BuildSpec& spec);

// Validates, fills defaults, folds and sorts variants and resolves the
// version through the catalog (InvalidArgument naming the known series for
// an unknown version).
absl::StatusOr<v1::BuildSpec> NormalizeSpec(const v1::BuildSpec& spec,
                                            const SpecDefaults& defaults,
                                            const Catalog& catalog);

// Stable text form of a normalised spec: one "key=value" line per field in
// a fixed order. Equal specs have equal canonical forms.
std::string CanonicalSpec(const v1::BuildSpec& spec);

// sha256 over the canonical spec, the recipe's template digest and the
// catalog release digest: what determines the artifacts.
std::string SpecDigest(const v1::BuildSpec& normalized, absl::string_view recipe_digest,
                       absl::string_view release_digest);

// "24.11.5" → "24.11".
std::string SeriesOf(absl::string_view version);

}  // namespace sfactory
