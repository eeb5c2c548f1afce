// Reads the dynamic-linking facts of one ELF file through elfutils libelf.
// Reentrant; libelf is initialised once per process on first use.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sfactory::packaging {

struct ElfInfo {
  int type = 0;          // e_type: ET_EXEC, ET_DYN, ET_REL, ...
  int machine = 0;       // e_machine
  bool dynamic = false;  // has a dynamic section with content
  std::string soname;    // DT_SONAME, empty when absent
  std::vector<std::string> needed;  // DT_NEEDED in file order
  std::optional<std::string> rpath;    // DT_RPATH
  std::optional<std::string> runpath;  // DT_RUNPATH
};

// True when the file starts with the ELF magic. Not-found and unreadable
// files are errors.
absl::StatusOr<bool> IsElf(const std::filesystem::path& path);

// nullopt when the file is not ELF (by its magic). DataLoss when it has the
// magic but libelf cannot parse it. Files whose .dynamic has no content in
// the file (separate debug info) report dynamic = false. Files without
// section headers are read through PT_DYNAMIC.
absl::StatusOr<std::optional<ElfInfo>> ReadElfInfo(const std::filesystem::path& path);

}  // namespace sfactory::packaging
