// A temporary directory for one test case: removed afterwards, but kept (and
// its path printed) when the test case fails with an exception (REQUIRE).
#pragma once

#include <catch2/catch.hpp>

#include <exception>
#include <filesystem>

#include "common/fs.h"

namespace sfactory::testing {

class ScratchDir {
 public:
  ScratchDir() : dir_(*TempDir::Create("sf-test-")) {}
  ~ScratchDir() {
    if (std::uncaught_exceptions() > 0) {
      dir_.Keep();
      WARN("kept test dir " << dir_.path());
    }
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  TempDir dir_;
};

}  // namespace sfactory::testing
