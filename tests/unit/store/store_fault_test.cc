// The store under a failing disk, through a SQLite VFS that injects faults
// (tests/fault_vfs.h): a failed call returns an error, what was committed
// before survives (read back through the default VFS), and the failed
// change is not half there.
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "common/fs.h"
#include "daemon/store/store.h"
#include "tests/fault_vfs.h"
#include "tests/test_dir.h"

namespace sfactory::store {
namespace {

using testing::FaultVfs;

BuildRecord QueuedBuild(const std::string& id) {
  BuildRecord record;
  record.build.set_id(id);
  record.build.set_state(v1::BUILD_STATE_QUEUED);
  record.build.set_digest("digest-" + id);
  record.build.set_owner("alice");
  record.build.mutable_spec()->set_slurm_version("24.11.5");
  return record;
}

struct Fixture {
  Fixture() : vfs(FaultVfs::Get()) {
    vfs.Reset();
    faulty = Open({.vfs = FaultVfs::kName});
    BuildRecord first = QueuedBuild("b1");
    REQUIRE(faulty->InsertBuild(&first).ok());
  }
  ~Fixture() { vfs.Reset(); }
  std::unique_ptr<Store> Open(const OpenOptions& options = {}) {
    auto store = Store::Open(dir.path() / "state.db", options);
    INFO(store.status().ToString());
    REQUIRE(store.ok());
    return std::move(*store);
  }
  // Closes the faulty store (faults off) and opens the file as the daemon would.
  std::unique_ptr<Store> Reopen() {
    vfs.Reset();
    faulty.reset();
    return Open();
  }
  // b1 as committed at the start, and nothing else.
  static void CheckOnlyFirstBuild(Store& store) {
    auto b1 = store.GetBuild("b1");
    INFO(b1.status().ToString());
    REQUIRE(b1.ok());
    CHECK(b1->build.state() == v1::BUILD_STATE_QUEUED);
    auto events = store.ListEvents("b1");
    REQUIRE(events.ok());
    CHECK(events->size() == 1);
    CHECK(store.GetBuild("b2").status().code() == absl::StatusCode::kNotFound);
    auto list = store.ListBuilds({});
    REQUIRE(list.ok());
    CHECK(list->builds.size() == 1);
  }

  FaultVfs& vfs;
  testing::ScratchDir dir;
  std::unique_ptr<Store> faulty;
};

TEST_CASE("Store on a full disk returns ResourceExhausted and loses nothing committed",
          "[store][fault]") {
  Fixture f;
  f.vfs.disk_full = true;
  BuildRecord second = QueuedBuild("b2");
  absl::Status s = f.faulty->InsertBuild(&second);
  CHECK(s.code() == absl::StatusCode::kResourceExhausted);
  CHECK_THAT(std::string(s.message()), Catch::Contains("insert build b2"));
  CHECK(f.vfs.failed_writes > 0);
  f.vfs.disk_full = false;
  Fixture::CheckOnlyFirstBuild(*f.faulty);  // not half visible on the same connection
  Fixture::CheckOnlyFirstBuild(*f.Reopen());
}

TEST_CASE("Store with a failing write returns the error and keeps the previous state",
          "[store][fault]") {
  Fixture f;
  f.vfs.fail_write = true;
  BuildRecord running = QueuedBuild("b1");
  running.build.set_state(v1::BUILD_STATE_RUNNING);
  absl::Status s = f.faulty->UpdateBuild(running, "started");
  CHECK_FALSE(s.ok());
  CHECK_THAT(std::string(s.message()), Catch::Contains("I/O error") || Catch::Contains("disk I/O"));
  CHECK(f.vfs.failed_writes > 0);
  BuildRecord second = QueuedBuild("b2");
  CHECK_FALSE(f.faulty->InsertBuild(&second).ok());
  Fixture::CheckOnlyFirstBuild(*f.Reopen());
}

TEST_CASE("Store with a failing fsync loses nothing it reported as committed", "[store][fault]") {
  Fixture f;
  f.vfs.fail_sync = true;
  BuildRecord second = QueuedBuild("b2");
  absl::Status inserted = f.faulty->InsertBuild(&second);
  // WAL with synchronous=NORMAL syncs at checkpoints, which closing runs.
  f.faulty.reset();
  CHECK(f.vfs.failed_syncs > 0);
  f.vfs.Reset();
  auto store = f.Open();
  REQUIRE(store->GetBuild("b1").ok());
  if (inserted.ok()) {
    CHECK(store->GetBuild("b2").ok());
  } else {
    CHECK(store->GetBuild("b2").status().code() == absl::StatusCode::kNotFound);
  }
}

TEST_CASE("Store Open with an unknown VFS says so", "[store][fault]") {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.path() / "state.db", {.vfs = "no-such-vfs"});
  CHECK(store.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(store.status().message()), Catch::Contains("no-such-vfs"));
}

}  // namespace
}  // namespace sfactory::store
