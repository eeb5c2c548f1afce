// Sizes written by people in config files.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sfactory {

// "1000000", "8GiB", "512MiB", "2G" (K/M/G/T and KiB..TiB are binary),
// "4GB" (KB..TB are decimal), "1B". Units are case-sensitive. Anything else,
// or a value that does not fit in 64 bits, is InvalidArgument ("... is not
// a size").
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);

// For people: "812 B", "4.0 KiB", "12.3 MiB", "1.20 GiB".
std::string FormatByteSize(uint64_t bytes);

}  // namespace sfactory
