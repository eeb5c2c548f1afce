// A SQLite VFS for store tests that forwards to the default VFS and can
// make writes or fsyncs fail, as a failing or full disk would. It covers
// every file of a database (main, -wal, -shm, journals).
//
//   FaultVfs& vfs = FaultVfs::Get();          // registered once as FaultVfs::kName
//   auto store = Store::Open(path, {.vfs = FaultVfs::kName});
//   vfs.disk_full = true;                     // the next xWrite returns SQLITE_FULL
//
// Switches may be flipped at any time from the test's thread; SQLite reads
// them on the store's thread under its own locking, so they are atomics.
#pragma once

#include <atomic>

namespace sfactory::testing {

class FaultVfs {
 public:
  static constexpr char kName[] = "sfactory-fault";

  // Registers the VFS (not as the default) on first use.
  static FaultVfs& Get();

  // xWrite returns SQLITE_IOERR_WRITE (errno EIO).
  std::atomic<bool> fail_write{false};
  // xWrite returns SQLITE_FULL (as SQLite does on ENOSPC).
  std::atomic<bool> disk_full{false};
  // xSync returns SQLITE_IOERR_FSYNC (errno EIO).
  std::atomic<bool> fail_sync{false};

  // Calls that failed because of a switch.
  std::atomic<int> failed_writes{0};
  std::atomic<int> failed_syncs{0};

  void Reset() {
    fail_write = disk_full = fail_sync = false;
    failed_writes = failed_syncs = 0;
  }

 private:
  FaultVfs() = default;
};

}  // namespace sfactory::testing
