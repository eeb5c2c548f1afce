// Shared by the files of the base-image pool (base_pool.cc, the pool;
// base_debootstrap.cc and base_from_image.cc, the two ways to build a base).
// Not for use outside them.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon/provider/lxd/base_pool.h"

namespace sfactory::provider::lxd::base_internal {

inline constexpr char kDigestKey[] = "sfactory.digest";
inline constexpr char kCreatedKey[] = "sfactory.created_at";

// A progress line in the log.
inline void Say(OutputSink& log, absl::string_view line) {
  log.Write(absl::StrCat("sfactory: ", line, "\n"));
}

inline int64_t Now() { return absl::ToUnixSeconds(absl::Now()); }

// The image properties a base is published with, in order; Describe() reads
// them back.
std::vector<std::pair<std::string, std::string>> BaseProperties(const BaseDefinition& base,
                                                                int64_t created_at);

}  // namespace sfactory::provider::lxd::base_internal
