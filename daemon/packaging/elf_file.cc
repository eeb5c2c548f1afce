#include "daemon/packaging/elf_file.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/status.h"

namespace sfactory::packaging {
namespace {

namespace fs = std::filesystem;

struct ElfDeleter {
  void operator()(Elf* e) const { elf_end(e); }
};

absl::Status ElfError(const fs::path& path, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(path.string(), ": ", what, ": ", elf_errmsg(-1)));
}

void InitLibelf() {
  static std::once_flag once;
  std::call_once(once, [] { elf_version(EV_CURRENT); });
}

// Collects the tags of one dynamic table; `str` maps a string-table offset
// to its text (nullptr when out of range).
template <typename StrFn>
void CollectDynamic(Elf_Data* data, size_t count, StrFn str, ElfInfo& info) {
  for (size_t i = 0; i < count; ++i) {
    GElf_Dyn dyn;
    if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr) break;
    if (dyn.d_tag == DT_NULL) break;
    const char* s = nullptr;
    switch (dyn.d_tag) {
      case DT_NEEDED:
        if ((s = str(dyn.d_un.d_val)) != nullptr) info.needed.emplace_back(s);
        break;
      case DT_SONAME:
        if ((s = str(dyn.d_un.d_val)) != nullptr) info.soname = s;
        break;
      case DT_RPATH:
        if ((s = str(dyn.d_un.d_val)) != nullptr) info.rpath = s;
        break;
      case DT_RUNPATH:
        if ((s = str(dyn.d_un.d_val)) != nullptr) info.runpath = s;
        break;
      default:
        break;
    }
  }
}

// The section-less path (e.g. sstrip'ed files): PT_DYNAMIC, and DT_STRTAB
// mapped from its virtual address through the PT_LOAD segments.
absl::Status ReadFromSegments(Elf* elf, const fs::path& path, ElfInfo& info) {
  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) return ElfError(path, "program headers");
  std::vector<GElf_Phdr> loads;
  GElf_Phdr dynamic{};
  bool have_dynamic = false;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr) continue;
    if (ph.p_type == PT_LOAD) loads.push_back(ph);
    if (ph.p_type == PT_DYNAMIC && ph.p_filesz > 0) {
      dynamic = ph;
      have_dynamic = true;
    }
  }
  if (!have_dynamic) return absl::OkStatus();
  Elf_Data* data = elf_getdata_rawchunk(elf, static_cast<int64_t>(dynamic.p_offset),
                                        dynamic.p_filesz, ELF_T_DYN);
  if (data == nullptr) return ElfError(path, "PT_DYNAMIC");
  size_t entsize = gelf_fsize(elf, ELF_T_DYN, 1, EV_CURRENT);
  size_t count = entsize ? dynamic.p_filesz / entsize : 0;
  uint64_t strtab = 0, strsz = 0;
  for (size_t i = 0; i < count; ++i) {
    GElf_Dyn dyn;
    if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr) break;
    if (dyn.d_tag == DT_STRTAB) strtab = dyn.d_un.d_ptr;
    if (dyn.d_tag == DT_STRSZ) strsz = dyn.d_un.d_val;
  }
  const char* strings = nullptr;
  for (const GElf_Phdr& ph : loads) {
    if (strtab >= ph.p_vaddr && strtab + strsz <= ph.p_vaddr + ph.p_filesz) {
      Elf_Data* s = elf_getdata_rawchunk(
          elf, static_cast<int64_t>(strtab - ph.p_vaddr + ph.p_offset), strsz, ELF_T_BYTE);
      if (s != nullptr) strings = static_cast<const char*>(s->d_buf);
      break;
    }
  }
  if (strings == nullptr) return ElfError(path, "dynamic string table");
  info.dynamic = true;
  CollectDynamic(data, count,
                 [&](uint64_t off) -> const char* {
                   if (off >= strsz || memchr(strings + off, 0, strsz - off) == nullptr) {
                     return nullptr;
                   }
                   return strings + off;
                 },
                 info);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<bool> IsElf(const fs::path& path) {
  SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(path, O_RDONLY));
  char magic[SELFMAG];
  SF_ASSIGN_OR_RETURN(size_t n, PreadFull(fd.get(), magic, sizeof magic, 0));
  return n == SELFMAG && std::memcmp(magic, ELFMAG, SELFMAG) == 0;
}

absl::StatusOr<std::optional<ElfInfo>> ReadElfInfo(const fs::path& path) {
  SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(path, O_RDONLY));
  char magic[SELFMAG];
  SF_ASSIGN_OR_RETURN(size_t n, PreadFull(fd.get(), magic, sizeof magic, 0));
  if (n != SELFMAG || std::memcmp(magic, ELFMAG, SELFMAG) != 0) return std::nullopt;

  InitLibelf();
  std::unique_ptr<Elf, ElfDeleter> elf(elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) return ElfError(path, "not a parsable ELF file");
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf.get(), &ehdr) == nullptr) return ElfError(path, "ELF header");
  ElfInfo info;
  info.type = ehdr.e_type;
  info.machine = ehdr.e_machine;

  size_t shnum = 0;
  if (elf_getshdrnum(elf.get(), &shnum) != 0) return ElfError(path, "section headers");
  if (shnum == 0) {
    SF_RETURN_IF_ERROR(ReadFromSegments(elf.get(), path, info));
    return info;
  }
  for (Elf_Scn* scn = elf_nextscn(elf.get(), nullptr); scn != nullptr;
       scn = elf_nextscn(elf.get(), scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) return ElfError(path, "section header");
    // Separate debug files keep .dynamic as SHT_NOBITS: no content.
    if (shdr.sh_type != SHT_DYNAMIC) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr) return ElfError(path, ".dynamic");
    info.dynamic = true;
    size_t count = shdr.sh_entsize ? shdr.sh_size / shdr.sh_entsize : 0;
    Elf* e = elf.get();
    size_t link = shdr.sh_link;
    CollectDynamic(data, count,
                   [e, link](uint64_t off) -> const char* { return elf_strptr(e, link, off); },
                   info);
    break;
  }
  return info;
}

}  // namespace sfactory::packaging
