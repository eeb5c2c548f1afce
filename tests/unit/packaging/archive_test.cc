#include "daemon/packaging/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "common/fs.h"
#include "tests/unit/packaging/fixtures.h"

namespace sfactory::packaging {
namespace {

namespace fs = std::filesystem;
using testing::TestDir;
using testing::WriteText;

// A small tree with every kind of entry the writer handles.
void MakeTree(const fs::path& root) {
  WriteText(root / "software/bin/tool", "#!/bin/sh\necho hi\n", 0750);
  WriteText(root / "software/lib/libx.so.1", std::string(300000, 'x'), 0600);
  WriteText(root / "software/share/doc/a-b", "dash\n");
  WriteText(root / "software/share/doc/a/b", "slash\n");
  WriteText(root / "software/share/doc" / std::string(150, 'n'), "long name\n");
  fs::create_directories(root / "software/share/empty");
  fs::create_symlink("libx.so.1", root / "software/lib/libx.so");
  WriteText(root / "manifest.json", "{}\n");
}

// Gives every entry of the tree other times, modes and (as root) owners.
void Scramble(const fs::path& root) {
  for (auto& e : fs::recursive_directory_iterator(root)) {
    const fs::path& p = e.path();
    struct timespec times[2] = {{123456789, 42}, {987654321, 7}};
    ::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW);
    if (::geteuid() == 0) (void)::lchown(p.c_str(), 1234, 5678);
    if (!e.is_symlink() && e.is_regular_file()) {
      auto st = fs::status(p);
      bool exec = (st.permissions() & fs::perms::owner_exec) != fs::perms::none;
      fs::permissions(p, exec ? fs::perms::owner_all : fs::perms::owner_read | fs::perms::group_read);
    }
  }
}

struct ReadEntry {
  std::string path;
  int type;
  int perm;
  int64_t uid, gid;
  std::string uname, gname, symlink, hardlink;
  int64_t mtime;
  bool atime_set, ctime_set, birthtime_set;
};

std::vector<ReadEntry> ReadBack(const fs::path& archive_path) {
  struct archive* a = archive_read_new();
  archive_read_support_format_all(a);
  archive_read_support_filter_all(a);
  REQUIRE(archive_read_open_filename(a, archive_path.c_str(), 65536) == ARCHIVE_OK);
  std::vector<ReadEntry> out;
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    ReadEntry r;
    r.path = archive_entry_pathname(e);
    r.type = static_cast<int>(archive_entry_filetype(e));
    r.perm = static_cast<int>(archive_entry_perm(e));
    r.uid = archive_entry_uid(e);
    r.gid = archive_entry_gid(e);
    r.uname = archive_entry_uname(e) ? archive_entry_uname(e) : "";
    r.gname = archive_entry_gname(e) ? archive_entry_gname(e) : "";
    r.symlink = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
    r.hardlink = archive_entry_hardlink(e) ? archive_entry_hardlink(e) : "";
    r.mtime = archive_entry_mtime(e);
    r.atime_set = archive_entry_atime_is_set(e);
    r.ctime_set = archive_entry_ctime_is_set(e);
    r.birthtime_set = archive_entry_birthtime_is_set(e);
    out.push_back(r);
  }
  archive_read_free(a);
  return out;
}

// Writes a tar whose entries are exactly as given (unsafe names included).
struct RawEntry {
  std::string name;
  int type = AE_IFREG;
  std::string data_or_target;
};
fs::path WriteRawTar(const fs::path& path, const std::vector<RawEntry>& entries) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  REQUIRE(archive_write_open_filename(a, path.c_str()) == ARCHIVE_OK);
  for (const RawEntry& r : entries) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, r.name.c_str());
    archive_entry_set_filetype(e, static_cast<unsigned>(r.type));
    archive_entry_set_perm(e, 0644);
    if (r.type == AE_IFLNK) archive_entry_set_symlink(e, r.data_or_target.c_str());
    if (r.type == AE_IFCHR) archive_entry_set_rdev(e, ::makedev(1, 3));
    if (r.type == AE_IFREG) archive_entry_set_size(e, static_cast<la_int64_t>(r.data_or_target.size()));
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    if (r.type == AE_IFREG) archive_write_data(a, r.data_or_target.data(), r.data_or_target.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return path;
}

absl::Status ExtractRaw(const fs::path& dir, const std::vector<RawEntry>& entries) {
  fs::path tar = WriteRawTar(dir / "raw.tar", entries);
  fs::create_directories(dir / "out");
  return SafeExtract(tar, dir / "out").status();
}

TEST_CASE("Two packs of the same tree are byte-identical even when times and owners differ",
          "[packaging][archive]") {
  TestDir dir;
  MakeTree(dir.path() / "a");
  testing::CopyTree(dir.path() / "a", dir.path() / "b");
  Scramble(dir.path() / "b");
  for (Compression c : {Compression::kZstd, Compression::kGzip, Compression::kNone}) {
    ArchiveOptions options{.compression = c, .mtime = 1700000000};
    fs::path out1 = dir.path() / ("1" + std::string(ArchiveSuffix(c)));
    fs::path out2 = dir.path() / ("2" + std::string(ArchiveSuffix(c)));
    fs::path out3 = dir.path() / ("3" + std::string(ArchiveSuffix(c)));
    REQUIRE(WriteDeterministicArchive(dir.path() / "a", out1, options).ok());
    REQUIRE(WriteDeterministicArchive(dir.path() / "a", out2, options).ok());
    REQUIRE(WriteDeterministicArchive(dir.path() / "b", out3, options).ok());
    INFO(out1);
    CHECK(*ReadFile(out1) == *ReadFile(out2));
    CHECK(*ReadFile(out1) == *ReadFile(out3));
  }
}

TEST_CASE("zstd archives do not depend on the number of worker threads", "[packaging][archive]") {
  TestDir dir;
  MakeTree(dir.path() / "a");
  WriteText(dir.path() / "a/big", std::string(3 << 20, 'z'));
  std::string first;
  for (int threads : {1, 2, 4}) {
    fs::path out = dir.path() / ("t" + std::to_string(threads) + ".tar.zst");
    REQUIRE(WriteDeterministicArchive(dir.path() / "a", out, {.threads = threads}).ok());
    std::string bytes = *ReadFile(out);
    if (first.empty()) first = bytes;
    CHECK(bytes == first);
  }
}

TEST_CASE("Archive entries are sorted, owned by root and dated SOURCE_DATE_EPOCH",
          "[packaging][archive]") {
  TestDir dir;
  MakeTree(dir.path() / "a");
  Scramble(dir.path() / "a");
  fs::path out = dir.path() / "x.tar.zst";
  auto stats = WriteDeterministicArchive(dir.path() / "a", out, {.mtime = 1234567890});
  REQUIRE(stats.ok());
  auto entries = ReadBack(out);
  REQUIRE(entries.size() == stats->entries);
  std::vector<std::string> names;
  for (const auto& e : entries) {
    INFO(e.path);
    names.push_back(e.path);
    CHECK(e.uid == 0);
    CHECK(e.gid == 0);
    CHECK(e.uname == "root");
    CHECK(e.gname == "root");
    CHECK(e.mtime == 1234567890);
    CHECK_FALSE(e.atime_set);
    CHECK_FALSE(e.ctime_set);
    CHECK_FALSE(e.birthtime_set);
    if (e.type == AE_IFDIR) CHECK(e.perm == 0755);
    if (e.path == "software/bin/tool") CHECK(e.perm == 0755);
    if (e.path == "software/lib/libx.so.1") CHECK(e.perm == 0644);
    if (e.path == "software/lib/libx.so") {
      CHECK(e.type == AE_IFLNK);
      CHECK(e.symlink == "libx.so.1");
    }
  }
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end(), [](std::string a, std::string b) {
    if (!a.empty() && a.back() == '/') a.pop_back();
    if (!b.empty() && b.back() == '/') b.pop_back();
    return a < b;
  });
  CHECK(names == sorted);
  CHECK(names.front() == "manifest.json");
  CHECK(std::find(names.begin(), names.end(), "software/share/empty/") != names.end());
  CHECK(std::find(names.begin(), names.end(), "software/share/doc/" + std::string(150, 'n')) !=
        names.end());
}

TEST_CASE("gzip archives carry no timestamp in their header", "[packaging][archive]") {
  TestDir dir;
  MakeTree(dir.path() / "a");
  fs::path out = dir.path() / "x.tar.gz";
  REQUIRE(WriteDeterministicArchive(dir.path() / "a", out, {.compression = Compression::kGzip}).ok());
  std::string bytes = *ReadFile(out);
  REQUIRE(bytes.size() > 10);
  CHECK(static_cast<unsigned char>(bytes[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(bytes[1]) == 0x8b);
  CHECK(bytes.substr(4, 4) == std::string(4, '\0'));
  testing::MustRun({"gzip", "-t", out.string()});
  testing::MustRun({"tar", "-tzf", out.string()});
}

TEST_CASE("The archive writer refuses fifos", "[packaging][archive]") {
  TestDir dir;
  fs::create_directories(dir.path() / "a");
  REQUIRE(::mkfifo((dir.path() / "a/fifo").c_str(), 0644) == 0);
  auto s = WriteDeterministicArchive(dir.path() / "a", dir.path() / "x.tar", {});
  CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(fs::exists(dir.path() / "x.tar"));
}

TEST_CASE("SafeExtract restores what the writer packed", "[packaging][archive]") {
  TestDir dir;
  MakeTree(dir.path() / "a");
  fs::remove(dir.path() / "a/manifest.json");
  fs::path out = dir.path() / "x.tar.zst";
  REQUIRE(WriteDeterministicArchive(dir.path() / "a", out, {}).ok());
  fs::create_directories(dir.path() / "b");
  auto stats = SafeExtract(out, dir.path() / "b");
  INFO(stats.status());
  REQUIRE(stats.ok());
  CHECK(*DigestTree(dir.path() / "a") == *DigestTree(dir.path() / "b"));
  CHECK(fs::is_symlink(dir.path() / "b/software/lib/libx.so"));
}

TEST_CASE("SafeExtract accepts hard links inside the tree from GNU tar", "[packaging][archive]") {
  TestDir dir;
  WriteText(dir.path() / "src/software/bin/a", "same\n", 0755);
  fs::create_hard_link(dir.path() / "src/software/bin/a", dir.path() / "src/software/bin/b");
  fs::path tar = dir.path() / "tree.tar";
  testing::MustRun({"tar", "-cf", tar.string(), "-C", (dir.path() / "src").string(), "software"});
  fs::create_directories(dir.path() / "out");
  auto stats = SafeExtract(tar, dir.path() / "out");
  INFO(stats.status());
  REQUIRE(stats.ok());
  CHECK(*ReadFile(dir.path() / "out/software/bin/b") == "same\n");
  // The writer stores the content once, under the first name.
  fs::path out = dir.path() / "x.tar";
  REQUIRE(WriteDeterministicArchive(dir.path() / "out", out, {.compression = Compression::kNone}).ok());
  auto entries = ReadBack(out);
  auto b = std::find_if(entries.begin(), entries.end(),
                        [](const auto& e) { return e.path == "software/bin/b"; });
  REQUIRE(b != entries.end());
  CHECK(b->hardlink == "software/bin/a");
  // And the extracted copy has the same digest.
  fs::create_directories(dir.path() / "again");
  REQUIRE(SafeExtract(out, dir.path() / "again").ok());
  CHECK(*DigestTree(dir.path() / "again") == *DigestTree(dir.path() / "out"));
  CHECK(fs::hard_link_count(dir.path() / "again/software/bin/b") == 2);
}

TEST_CASE("SafeExtract rejects names that escape or lie outside software/", "[packaging][archive]") {
  TestDir dir;
  SECTION("..") {
    auto s = ExtractRaw(dir.path(), {{"software/../../evil", AE_IFREG, "x"}});
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), ".."));
  }
  SECTION("leading ../") {
    CHECK(ExtractRaw(dir.path(), {{"../evil", AE_IFREG, "x"}}).code() ==
          absl::StatusCode::kInvalidArgument);
  }
  SECTION("absolute") {
    auto s = ExtractRaw(dir.path(), {{"/tmp/sf-evil-absolute", AE_IFREG, "x"}});
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "absolute"));
    CHECK_FALSE(fs::exists("/tmp/sf-evil-absolute"));
  }
  SECTION("outside software/") {
    auto s = ExtractRaw(dir.path(), {{"etc/passwd", AE_IFREG, "x"}});
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "outside software/"));
  }
  SECTION("a sibling whose name starts like software") {
    CHECK(ExtractRaw(dir.path(), {{"software-x/a", AE_IFREG, "x"}}).code() ==
          absl::StatusCode::kInvalidArgument);
  }
  CHECK_FALSE(fs::exists(dir.path() / "evil"));
}

TEST_CASE("SafeExtract rejects device nodes", "[packaging][archive]") {
  TestDir dir;
  auto s = ExtractRaw(dir.path(), {{"software/dev/null", AE_IFCHR, ""}});
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(s.message(), "software/dev/null"));
}

TEST_CASE("SafeExtract keeps symlinks inside the tree and rejects ones that leave it",
          "[packaging][archive]") {
  TestDir dir;
  SECTION("inside") {
    CHECK(ExtractRaw(dir.path(), {{"software/lib/libx.so.1", AE_IFREG, "x"},
                                  {"software/lib/libx.so", AE_IFLNK, "libx.so.1"},
                                  {"software/bin/dangling", AE_IFLNK, "../lib/later"}})
              .ok());
    CHECK(fs::is_symlink(dir.path() / "out/software/lib/libx.so"));
  }
  SECTION("absolute target") {
    auto s = ExtractRaw(dir.path(), {{"software/lib/passwd", AE_IFLNK, "/etc/passwd"}});
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "software/lib/passwd"));
  }
  SECTION("relative target above the tree") {
    CHECK(ExtractRaw(dir.path(), {{"software/lib/up", AE_IFLNK, "../../.."}}).code() ==
          absl::StatusCode::kInvalidArgument);
  }
  SECTION("through another symlink") {
    // Lexically software/lib/x, physically <out>/x: only a real lookup sees it.
    auto s = ExtractRaw(dir.path(), {{"software/lib/up", AE_IFLNK, ".."},
                                     {"software/lib/escape", AE_IFLNK, "up/../x"}});
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "software/lib/escape"));
  }
  SECTION("writing through a symlink") {
    auto s = ExtractRaw(dir.path(), {{"software/lib/self", AE_IFLNK, "."},
                                     {"software/lib/self/f", AE_IFREG, "x"}});
    // Either refused or written inside the tree; never outside it.
    if (s.ok()) CHECK(fs::exists(dir.path() / "out/software/lib/f"));
  }
}

TEST_CASE("DigestTree ignores times and owners but not exec bits or content",
          "[packaging][archive]") {
  TestDir dir;
  MakeTree(dir.path() / "a");
  testing::CopyTree(dir.path() / "a", dir.path() / "b");
  auto d1 = DigestTree(dir.path() / "a");
  REQUIRE(d1.ok());
  Scramble(dir.path() / "b");
  CHECK(*DigestTree(dir.path() / "b") == *d1);
  fs::permissions(dir.path() / "b/software/share/doc/a-b", fs::perms::owner_exec,
                  fs::perm_options::add);
  CHECK(*DigestTree(dir.path() / "b") != *d1);
}

}  // namespace
}  // namespace sfactory::packaging
