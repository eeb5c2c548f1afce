// Test helpers for directories. ScratchDir: a temporary directory for one
// test case, removed afterwards, but kept (and its path printed) when the
// test case fails with an exception (REQUIRE).
#pragma once

#include <catch2/catch.hpp>

#include <exception>
#include <filesystem>
#include <system_error>

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

// Entries directly in `dir` (0 when it does not exist).
inline int CountEntries(const std::filesystem::path& dir) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) (void)e, ++n;
  return n;
}

}  // namespace sfactory::testing
