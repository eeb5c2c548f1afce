#include "common/atomic_file.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/status.h"
#include "tests/fault_env.h"
#include "tests/test_dir.h"

namespace sfactory {
namespace {

namespace fs = std::filesystem;
using testing::CountEntries;
using testing::CountTempFiles;
using testing::FaultEnv;
using testing::ScratchDir;

// A directory holding `target` with content "old".
struct Fixture {
  Fixture() { REQUIRE(WriteFileAtomic(target, "old").ok()); }
  // After a failure before the rename: the old content, no temp file.
  void CheckUntouched() {
    CHECK(*ReadFile(target) == "old");
    CHECK(CountEntries(dir.path()) == 1);
    CHECK(env.renames == 0);
  }
  ScratchDir dir;
  fs::path target = dir.path() / "file.txt";
  FaultEnv env;
};

TEST_CASE("AtomicFile shows the new content at the target only after Commit", "[common][atomic]") {
  Fixture f;
  auto file = AtomicFile::Create(f.target, {.env = &f.env});
  REQUIRE(file.ok());
  REQUIRE(file->Append("new ").ok());
  REQUIRE(file->Append("content").ok());
  CHECK(*ReadFile(f.target) == "old");
  CHECK(file->size() == 11);
  REQUIRE(file->Commit().ok());
  CHECK(*ReadFile(f.target) == "new content");
  CHECK(CountEntries(f.dir.path()) == 1);
  CHECK(f.env.syncs == 1);
  CHECK(f.env.dir_syncs == 1);  // the rename is made durable
}

TEST_CASE("AtomicFile puts its temp file beside the target under one naming scheme",
          "[common][atomic]") {
  Fixture f;
  auto a = AtomicFile::Create(f.target);
  auto b = AtomicFile::Create(f.target);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->temp_path().parent_path() == f.dir.path());
  CHECK(absl::StartsWith(a->temp_path().filename().string(), ".file.txt.tmp."));
  CHECK(a->temp_path() != b->temp_path());
  CHECK(CountTempFiles(f.dir.path()) == 2);
}

TEST_CASE("AtomicFile dropped without Commit removes its temp file and keeps the target",
          "[common][atomic]") {
  Fixture f;
  {
    auto file = AtomicFile::Create(f.target);
    REQUIRE(file.ok());
    REQUIRE(file->Append("half").ok());
  }
  CHECK(*ReadFile(f.target) == "old");
  CHECK(CountEntries(f.dir.path()) == 1);
}

TEST_CASE("A failing write is returned, keeps the target and leaves no temp file",
          "[common][atomic]") {
  Fixture f;
  f.env.fail_write_number = 2;
  absl::Status s;
  {
    auto file = AtomicFile::Create(f.target, {.env = &f.env});
    REQUIRE(file.ok());
    REQUIRE(file->Append("first").ok());
    s = file->Append("second");
  }
  CHECK(s.code() == absl::StatusCode::kInternal);
  CHECK_THAT(std::string(s.message()),
             Catch::Contains("Input/output error") && Catch::Contains("check the disk holding"));
  f.CheckUntouched();
}

TEST_CASE("A full disk is ResourceExhausted and says where to free space", "[common][atomic]") {
  Fixture f;
  f.env.space_left = 4;
  absl::Status s = WriteFileAtomic(f.target, "more than four bytes", 0644, &f.env);
  CHECK(s.code() == absl::StatusCode::kResourceExhausted);
  CHECK_THAT(std::string(s.message()),
             Catch::Contains("No space left on device") &&
                 Catch::Contains(absl::StrCat("free disk space in ", f.dir.path().string())));
  f.CheckUntouched();
}

TEST_CASE("A failing fsync of the file keeps the target; of the directory, it has the new content",
          "[common][atomic]") {
  Fixture f;
  f.env.fail_sync = true;
  absl::Status file_sync = WriteFileAtomic(f.target, "new", 0644, &f.env);
  CHECK(file_sync.code() == absl::StatusCode::kInternal);
  CHECK_THAT(std::string(file_sync.message()), Catch::Contains("fsync"));
  f.CheckUntouched();

  f.env.fail_sync = false;
  f.env.fail_sync_dir = true;
  absl::Status dir_sync = WriteFileAtomic(f.target, "new", 0644, &f.env);
  CHECK_FALSE(dir_sync.ok());
  CHECK_THAT(std::string(dir_sync.message()), Catch::Contains("fsync directory"));
  CHECK(*ReadFile(f.target) == "new");  // renamed, whole, not yet known to be durable
  CHECK(CountEntries(f.dir.path()) == 1);
}

TEST_CASE("A target that does not exist stays absent when the write fails", "[common][atomic]") {
  ScratchDir dir;
  FaultEnv env;
  env.space_left = 0;
  const fs::path target = dir.path() / "new.txt";
  CHECK(WriteFileAtomic(target, "x", 0644, &env).code() == absl::StatusCode::kResourceExhausted);
  CHECK(!fs::exists(target));
  CHECK(CountEntries(dir.path()) == 0);
}

TEST_CASE("AtomicFile CommitAs publishes under a name chosen at the end", "[common][atomic]") {
  ScratchDir dir;
  REQUIRE(MakeDirs(dir.path() / "tmp").ok());
  REQUIRE(MakeDirs(dir.path() / "store").ok());
  auto file = AtomicFile::Create(dir.path() / "tmp" / "upload", {.mode = 0444});
  REQUIRE(file.ok());
  REQUIRE(file->Append("content").ok());
  REQUIRE(file->CommitAs(dir.path() / "store" / "digest").ok());
  CHECK(*ReadFile(dir.path() / "store" / "digest") == "content");
  CHECK(CountEntries(dir.path() / "tmp") == 0);
  struct stat st;
  REQUIRE(::stat((dir.path() / "store" / "digest").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0444);
}

TEST_CASE("CopyFileAtomic copies content and permission bits", "[common][atomic]") {
  ScratchDir dir;
  const fs::path src = dir.path() / "tool";
  REQUIRE(WriteFileAtomic(src, std::string(3 << 20, 'x'), 0755).ok());
  REQUIRE(CopyFileAtomic(src, dir.path() / "copy").ok());
  CHECK(*ReadFile(dir.path() / "copy") == std::string(3 << 20, 'x'));
  struct stat st;
  REQUIRE(::stat((dir.path() / "copy").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0755);
  CHECK(CopyFileAtomic(dir.path() / "missing", dir.path() / "copy2").code() ==
        absl::StatusCode::kNotFound);
  CHECK(CountEntries(dir.path()) == 2);
}

TEST_CASE("CommitFile publishes a file written elsewhere, and removes it when it fails",
          "[common][atomic]") {
  Fixture f;
  const fs::path part = f.dir.path() / "download.part";
  REQUIRE(WriteFileAtomic(part, "downloaded").ok());
  REQUIRE(CommitFile(part, f.target, &f.env).ok());
  CHECK(*ReadFile(f.target) == "downloaded");
  CHECK(f.env.syncs == 1);
  CHECK(f.env.dir_syncs == 1);

  REQUIRE(WriteFileAtomic(part, "second").ok());
  f.env.fail_sync = true;
  CHECK_FALSE(CommitFile(part, f.target, &f.env).ok());
  CHECK(*ReadFile(f.target) == "downloaded");
  CHECK(!fs::exists(part));
}

TEST_CASE("MoveFileDurably keeps the file where it was when the rename fails", "[common][atomic]") {
  Fixture f;
  f.env.rename_errno = EXDEV;
  absl::Status s = MoveFileDurably(f.target, f.dir.path() / "moved", &f.env);
  CHECK(ErrnoOf(s) == EXDEV);
  CHECK(*ReadFile(f.target) == "old");
  CHECK(ErrnoOf(Annotate(s, "context")) == EXDEV);
}

}  // namespace
}  // namespace sfactory
