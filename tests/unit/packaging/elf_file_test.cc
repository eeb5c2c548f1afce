#include "daemon/packaging/elf_file.h"

#include <elf.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "common/fs.h"
#include "tests/unit/packaging/fixtures.h"

namespace sfactory::packaging {
namespace {

namespace fs = std::filesystem;
using testing::CompileC;
using testing::TestDir;

TEST_CASE("ReadElfInfo reads SONAME, NEEDED and RUNPATH", "[packaging][elf]") {
  TestDir dir;
  CompileC("#include <stdio.h>\nint f(void) { return puts(\"f\"); }\n", dir.path() / "libf.so.1",
           {"-shared", "-fPIC", "-Wl,-soname,libf.so.1", "-Wl,--no-as-needed", "-Wl,--enable-new-dtags",
            "-Wl,-rpath,$ORIGIN/x:/abs"});
  auto info = ReadElfInfo(dir.path() / "libf.so.1");
  REQUIRE(info.ok());
  REQUIRE(info->has_value());
  const ElfInfo& e = **info;
  CHECK(e.type == ET_DYN);
  CHECK(e.dynamic);
  CHECK(e.soname == "libf.so.1");
  CHECK(std::find(e.needed.begin(), e.needed.end(), "libc.so.6") != e.needed.end());
  CHECK(e.runpath == "$ORIGIN/x:/abs");
  CHECK_FALSE(e.rpath.has_value());
}

TEST_CASE("ReadElfInfo reads files without section headers through PT_DYNAMIC",
          "[packaging][elf]") {
  TestDir dir;
  const fs::path prog = dir.path() / "prog";
  CompileC("int main(void) { return 0; }\n", prog,
           {"-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/../lib"});
  auto with_sections = ReadElfInfo(prog);
  REQUIRE(with_sections.ok());
  REQUIRE(with_sections->has_value());

  // What sstrip does: drop the section header table from the ELF header.
  std::string bytes = *ReadFile(prog);
  REQUIRE(bytes[EI_CLASS] == ELFCLASS64);
  Elf64_Ehdr ehdr;
  std::memcpy(&ehdr, bytes.data(), sizeof ehdr);
  ehdr.e_shoff = 0;
  ehdr.e_shnum = 0;
  ehdr.e_shstrndx = 0;
  std::memcpy(bytes.data(), &ehdr, sizeof ehdr);
  REQUIRE(WriteFileAtomic(dir.path() / "stripped", bytes, 0755).ok());
  testing::MustRun({(dir.path() / "stripped").string()});

  auto info = ReadElfInfo(dir.path() / "stripped");
  INFO(info.status());
  REQUIRE(info.ok());
  REQUIRE(info->has_value());
  CHECK((*info)->dynamic);
  CHECK((*info)->runpath == "$ORIGIN/../lib");
  CHECK((*info)->needed == (*with_sections)->needed);
}

TEST_CASE("ReadElfInfo tells non-ELF files from broken ELF files", "[packaging][elf]") {
  TestDir dir;
  testing::WriteText(dir.path() / "text", "#!/bin/sh\n");
  testing::WriteText(dir.path() / "empty", "");
  testing::WriteText(dir.path() / "broken", "\x7f" "ELF");
  auto text = ReadElfInfo(dir.path() / "text");
  REQUIRE(text.ok());
  CHECK_FALSE(text->has_value());
  auto empty = ReadElfInfo(dir.path() / "empty");
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->has_value());
  CHECK(ReadElfInfo(dir.path() / "broken").status().code() == absl::StatusCode::kDataLoss);
  CHECK(ReadElfInfo(dir.path() / "missing").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("ReadElfInfo reports static executables and objects as not dynamic",
          "[packaging][elf]") {
  TestDir dir;
  CompileC("int x(void) { return 0; }\n", dir.path() / "x.o", {"-c"});
  auto obj = ReadElfInfo(dir.path() / "x.o");
  REQUIRE(obj.ok());
  REQUIRE(obj->has_value());
  CHECK((*obj)->type == ET_REL);
  CHECK_FALSE((*obj)->dynamic);
}

}  // namespace
}  // namespace sfactory::packaging
