#include <catch2/catch.hpp>

#include "common/fs.h"
#include "common/sha256.h"

namespace sfactory {
namespace {

TEST_CASE("Sha256Hex matches the FIPS 180-2 test vector", "[common][sha256]") {
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("Sha256File equals hashing the bytes incrementally", "[common][sha256]") {
  auto dir = TempDir::Create("sf-sha-");
  REQUIRE(dir.ok());
  std::string data(3 * 1024 * 1024 + 17, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
  REQUIRE(WriteFileAtomic(dir->path() / "f", data).ok());
  Sha256 h;
  h.Update(absl::string_view(data).substr(0, 1000));
  h.Update(absl::string_view(data).substr(1000));
  auto file = Sha256File(dir->path() / "f");
  REQUIRE(file.ok());
  CHECK(*file == h.FinishHex());
  CHECK(IsSha256Hex(*file));
  CHECK(!IsSha256Hex("ABC"));
}

}  // namespace
}  // namespace sfactory
