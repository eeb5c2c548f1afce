#include "client/flags.h"

#include <catch2/catch.hpp>

namespace sfactory::client {
namespace {

const std::vector<FlagSpec> kSpecs = {
    {"output", FlagKind::kString, "DIR", "where", 'o'},
    {"follow", FlagKind::kBool, "", "keep going", 'f'},
    {"limit", FlagKind::kInt, "N", "how many"},
    {"variant", FlagKind::kList, "NAME", "repeatable"},
};

absl::StatusOr<ParsedArgs> Parse(std::vector<std::string> args) { return ParseFlags(args, kSpecs); }

TEST_CASE("ParseFlags rejects unknown flags", "[client]") {
  absl::StatusOr<ParsedArgs> p = Parse({"b1", "--bogus"});
  REQUIRE_FALSE(p.ok());
  CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(p.status().message()).find("--bogus") != std::string::npos);
  CHECK_FALSE(Parse({"-x"}).ok());
  CHECK_FALSE(Parse({"--bogus=1"}).ok());
}

TEST_CASE("ParseFlags takes values after a space, after = and after a short flag", "[client]") {
  absl::StatusOr<ParsedArgs> p = Parse({"b1", "-o", "out", "--limit=5", "--follow"});
  REQUIRE(p.ok());
  CHECK(p->positional() == std::vector<std::string>{"b1"});
  CHECK(p->String("output") == "out");
  CHECK(p->Int("limit", 0) == 5);
  CHECK(p->Bool("follow"));
  CHECK_FALSE(p->Has("variant"));
  CHECK(p->String("missing", "fallback") == "fallback");
}

TEST_CASE("ParseFlags collects repeated list flags in order", "[client]") {
  absl::StatusOr<ParsedArgs> p = Parse({"--variant", "gpu", "x", "--variant=minimal"});
  REQUIRE(p.ok());
  CHECK(p->List("variant") == std::vector<std::string>{"gpu", "minimal"});
  CHECK(p->positional() == std::vector<std::string>{"x"});
}

TEST_CASE("ParseFlags rejects missing values, bad integers and repeats", "[client]") {
  CHECK_FALSE(Parse({"--output"}).ok());
  CHECK_FALSE(Parse({"--limit", "ten"}).ok());
  CHECK_FALSE(Parse({"--output", "a", "--output", "b"}).ok());
  CHECK_FALSE(Parse({"--follow=yes"}).ok());
}

TEST_CASE("ParseFlags treats everything after -- as positional", "[client]") {
  absl::StatusOr<ParsedArgs> p = Parse({"--", "--follow", "-o"});
  REQUIRE(p.ok());
  CHECK(p->positional() == std::vector<std::string>{"--follow", "-o"});
  CHECK_FALSE(p->Bool("follow"));
}

TEST_CASE("ParseFlags takes a negative number as a value", "[client]") {
  absl::StatusOr<ParsedArgs> p = Parse({"--limit", "-3"});
  REQUIRE(p.ok());
  CHECK(p->Int("limit", 0) == -3);
}

TEST_CASE("FlagsHelp lists every flag with its value name", "[client]") {
  std::string help = FlagsHelp(kSpecs);
  CHECK(help.find("-o, --output DIR") != std::string::npos);
  CHECK(help.find("--follow") != std::string::npos);
  CHECK(help.find("--variant NAME") != std::string::npos);
}

TEST_CASE("ParseFlags refuses a value outside a flag's choices, naming them", "[client]") {
  const std::vector<FlagSpec> specs = {
      {"mode", FlagKind::kString, "MODE", "how", 0, {"fast", "slow"}},
      {"state", FlagKind::kList, "STATE", "which", 0, {"queued", "failed"}},
  };
  CHECK(ParseFlags(std::vector<std::string>{"--mode", "fast"}, specs).ok());
  CHECK(ParseFlags(std::vector<std::string>{"--mode=SLOW"}, specs).ok());
  CHECK(ParseFlags(std::vector<std::string>{"--state", "queued,failed", "--state", "failed"}, specs)
            .ok());
  absl::StatusOr<ParsedArgs> bad = ParseFlags(std::vector<std::string>{"--mode", "warp"}, specs);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.status().message()) == "--mode takes fast, slow, not \"warp\"");
  absl::StatusOr<ParsedArgs> part =
      ParseFlags(std::vector<std::string>{"--state", "queued,exploded"}, specs);
  REQUIRE_FALSE(part.ok());
  CHECK(std::string(part.status().message()).find("\"exploded\"") != std::string::npos);
}

}  // namespace
}  // namespace sfactory::client
