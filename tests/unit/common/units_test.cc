#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "common/units.h"

namespace sfactory {
namespace {

TEST_CASE("ParseByteSize reads plain numbers and binary and decimal units", "[config]") {
  const std::vector<std::pair<std::string, uint64_t>> cases = {
      {"0", 0},
      {"1000000", 1000000},
      {"1B", 1},
      {"2KB", 2000},
      {"3MB", 3000000},
      {"4GB", 4000000000ULL},
      {"5TB", 5000000000000ULL},
      {"1KiB", 1024},
      {"512MiB", uint64_t{512} << 20},
      {"8GiB", uint64_t{8} << 30},
      {"2TiB", uint64_t{2} << 40},
      {" 3 GiB ", uint64_t{3} << 30},
      {"2G", uint64_t{2} << 30},
      {"1024", 1024},
  };
  for (const auto& [text, bytes] : cases) {
    INFO("'" << text << "'");
    auto b = ParseByteSize(text);
    REQUIRE(b.ok());
    CHECK(*b == bytes);
  }
}

TEST_CASE("ParseByteSize rejects what is not a size", "[config]") {
  for (const char* text : {"8 bananas", "", "GiB", "-1GiB", "1.5GiB", "8gib", "eight"}) {
    INFO("'" << text << "'");
    auto b = ParseByteSize(text);
    REQUIRE(!b.ok());
    CHECK(b.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(b.status().message().find("not a size") != absl::string_view::npos);
  }
}

TEST_CASE("ParseByteSize rejects sizes that do not fit in 64 bits", "[config]") {
  for (const char* text : {"20000000TiB", "18446744073709551615KiB", "99999999999GB"}) {
    INFO("'" << text << "' -> " << ParseByteSize(text).value_or(0));
    auto b = ParseByteSize(text);
    CHECK(!b.ok());
  }
}

TEST_CASE("FormatByteSize picks the unit a person reads", "[config]") {
  CHECK(FormatByteSize(812) == "812 B");
  CHECK(FormatByteSize(4096) == "4.0 KiB");
  CHECK(FormatByteSize(uint64_t{12} << 20) == "12.0 MiB");
  CHECK(FormatByteSize(uint64_t{3} << 30) == "3.00 GiB");
}

}  // namespace
}  // namespace sfactory
