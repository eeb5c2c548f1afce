#include "common/units.h"

#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace sfactory {

absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  static const std::pair<const char*, uint64_t> kUnits[] = {
      {"TiB", uint64_t{1} << 40}, {"GiB", uint64_t{1} << 30}, {"MiB", uint64_t{1} << 20},
      {"KiB", uint64_t{1} << 10}, {"TB", 1000000000000ULL},   {"GB", 1000000000ULL},
      {"MB", 1000000ULL},         {"KB", 1000ULL},            {"T", uint64_t{1} << 40},
      {"G", uint64_t{1} << 30},   {"M", uint64_t{1} << 20},   {"K", uint64_t{1} << 10},
      {"B", 1ULL}};
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' is not a size", why, "; write e.g. 8GiB, 512MiB, 2G or 1000000"));
  };
  absl::string_view s = absl::StripAsciiWhitespace(text);
  uint64_t mult = 1;
  for (const auto& [suffix, m] : kUnits) {
    if (absl::ConsumeSuffix(&s, suffix)) {
      mult = m;
      break;
    }
  }
  s = absl::StripAsciiWhitespace(s);
  uint64_t v;
  if (s.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(s[0])) ||
      !absl::SimpleAtoi(s, &v)) {
    return bad("");
  }
  if (v > std::numeric_limits<uint64_t>::max() / mult) return bad(" (too large)");
  return v * mult;
}

std::string FormatByteSize(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  double v = static_cast<double>(bytes);
  if (bytes < (uint64_t{1} << 20)) return absl::StrFormat("%.1f KiB", v / 1024);
  if (bytes < (uint64_t{1} << 30)) return absl::StrFormat("%.1f MiB", v / (1 << 20));
  return absl::StrFormat("%.2f GiB", v / (1 << 30));
}

}  // namespace sfactory
