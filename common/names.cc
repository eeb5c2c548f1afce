#include "common/names.h"

#include <regex>

namespace sfactory {
namespace {

bool Matches(absl::string_view s, const std::regex& re) {
  return std::regex_match(s.begin(), s.end(), re);
}

}  // namespace

bool IsValidName(absl::string_view name) {
  static const std::regex kNameRe(R"(^[a-z][a-z0-9-]{0,31}$)");
  return Matches(name, kNameRe);
}

bool IsValidSourceFileName(absl::string_view name) {
  static const std::regex kFileNameRe(R"(^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$)");
  return Matches(name, kFileNameRe);
}

}  // namespace sfactory
