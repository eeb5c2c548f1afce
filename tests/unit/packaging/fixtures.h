// Test fixtures for sfactory::packaging: small ELF trees compiled at test
// time with the system `cc`, shaped like a Slurm install.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/fs.h"
#include "common/subprocess.h"
#include "tests/test_dir.h"

namespace sfactory::packaging::testing {

using TestDir = ::sfactory::testing::ScratchDir;

// Runs argv; fails the current test (REQUIRE) unless it exits 0.
RunResult MustRun(const std::vector<std::string>& argv,
                  const std::vector<std::string>& env = {});

void WriteText(const std::filesystem::path& path, const std::string& text, int mode = 0644);

// Compiles C `source` into `out` with cc and `flags` (e.g. "-shared").
void CompileC(const std::string& source, const std::filesystem::path& out,
              const std::vector<std::string>& flags);

struct SlurmLikeTree {
  std::filesystem::path software;  // <parent>/software
};

// Builds <parent>/software, linked the way a build tree is: every ELF has
// an absolute RUNPATH into the tree's own lib dirs.
//   lib/libgreet.so.1.0.0  (SONAME libgreet.so.1; symlinks libgreet.so.1, libgreet.so)
//   lib/slurm/libhub.so    (needs libgreet.so.1; like libslurmfull)
//   lib/slurm/plugin_x.so  (needs libhub.so; like a plugin)
//   bin/hello              (needs libgreet.so.1 and libhub.so; prints "hello from greet via hub")
//   lib/libgreet.la, lib/pkgconfig/greet.pc (prefix=<install_prefix>), include/greet.h
SlurmLikeTree BuildSlurmLikeTree(const std::filesystem::path& parent,
                                 const std::string& install_prefix = "/opt/slurm/24.11");

// Copies a tree keeping symlinks as symlinks.
void CopyTree(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace sfactory::packaging::testing
