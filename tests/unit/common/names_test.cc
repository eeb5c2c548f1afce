#include <catch2/catch.hpp>

#include <string>

#include "common/names.h"

namespace sfactory {
namespace {

TEST_CASE("IsValidName takes lower-case names of at most 32 characters", "[common]") {
  for (const char* good :
       {"native", "gpu", "a", "cuda-12", "x0-1", "abcdefghijklmnopqrstuvwxyz012345"}) {
    INFO(good);
    CHECK(IsValidName(good));
  }
  for (std::string bad : {"", "Native", "0day", "-gpu", "gpu_1", "gpu.1", "a b", "a/b", "ä",
                          "abcdefghijklmnopqrstuvwxyz0123456"}) {
    INFO(bad);
    CHECK(!IsValidName(bad));
  }
  CHECK(!IsValidName(std::string("gpu\0x", 5)));
}

TEST_CASE("IsValidSourceFileName takes plain file names only", "[common]") {
  for (const char* good : {"slurm-24.11.5.tar.bz2", "Hello_1+2.tgz", "a", "0.tar"}) {
    INFO(good);
    CHECK(IsValidSourceFileName(good));
  }
  for (std::string bad : {"", ".", "..", ".hidden", "-rf", "_x", "a/b", "../x", "a b", "a\\b",
                          "x\n"}) {
    INFO(bad);
    CHECK(!IsValidSourceFileName(bad));
  }
  CHECK(IsValidSourceFileName(std::string(201, 'a')));
  CHECK(!IsValidSourceFileName(std::string(202, 'a')));
  CHECK(!IsValidSourceFileName(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace sfactory
