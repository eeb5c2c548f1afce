#include "tests/fault_vfs.h"

#include <sqlite3.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace sfactory::testing {
namespace {

// Our file: SQLite allocates szOsFile bytes; the real VFS's file follows.
struct File {
  sqlite3_file base;
  sqlite3_file* real;
};

sqlite3_vfs* Real() {
  static sqlite3_vfs* real = sqlite3_vfs_find(nullptr);
  return real;
}

// The errno that xGetLastError reports after an injected fault (SQLite asks
// for it to fill sqlite3_system_errno()).
thread_local int injected_errno = 0;

sqlite3_file* R(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

int Close(sqlite3_file* f) { return R(f)->pMethods->xClose(R(f)); }
int Read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return R(f)->pMethods->xRead(R(f), buf, n, off);
}
int Write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  FaultVfs& vfs = FaultVfs::Get();
  if (vfs.disk_full) {
    ++vfs.failed_writes;
    injected_errno = ENOSPC;
    return SQLITE_FULL;
  }
  if (vfs.fail_write) {
    ++vfs.failed_writes;
    injected_errno = EIO;
    return SQLITE_IOERR_WRITE;
  }
  return R(f)->pMethods->xWrite(R(f), buf, n, off);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) { return R(f)->pMethods->xTruncate(R(f), size); }
int Sync(sqlite3_file* f, int flags) {
  FaultVfs& vfs = FaultVfs::Get();
  if (vfs.fail_sync) {
    ++vfs.failed_syncs;
    injected_errno = EIO;
    return SQLITE_IOERR_FSYNC;
  }
  return R(f)->pMethods->xSync(R(f), flags);
}
int FileSize(sqlite3_file* f, sqlite3_int64* size) { return R(f)->pMethods->xFileSize(R(f), size); }
int Lock(sqlite3_file* f, int level) { return R(f)->pMethods->xLock(R(f), level); }
int Unlock(sqlite3_file* f, int level) { return R(f)->pMethods->xUnlock(R(f), level); }
int CheckReservedLock(sqlite3_file* f, int* out) {
  return R(f)->pMethods->xCheckReservedLock(R(f), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return R(f)->pMethods->xFileControl(R(f), op, arg);
}
int SectorSize(sqlite3_file* f) { return R(f)->pMethods->xSectorSize(R(f)); }
int DeviceCharacteristics(sqlite3_file* f) { return R(f)->pMethods->xDeviceCharacteristics(R(f)); }
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return R(f)->pMethods->xShmMap(R(f), region, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return R(f)->pMethods->xShmLock(R(f), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) { R(f)->pMethods->xShmBarrier(R(f)); }
int ShmUnmap(sqlite3_file* f, int remove) { return R(f)->pMethods->xShmUnmap(R(f), remove); }
// Version 2: shared memory (WAL) but no memory-mapped I/O, so that every
// write goes through xWrite.
const sqlite3_io_methods kMethods = {
    .iVersion = 2,
    .xClose = Close,
    .xRead = Read,
    .xWrite = Write,
    .xTruncate = Truncate,
    .xSync = Sync,
    .xFileSize = FileSize,
    .xLock = Lock,
    .xUnlock = Unlock,
    .xCheckReservedLock = CheckReservedLock,
    .xFileControl = FileControl,
    .xSectorSize = SectorSize,
    .xDeviceCharacteristics = DeviceCharacteristics,
    .xShmMap = ShmMap,
    .xShmLock = ShmLock,
    .xShmBarrier = ShmBarrier,
    .xShmUnmap = ShmUnmap,
    .xFetch = nullptr,
    .xUnfetch = nullptr,
};

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  File* file = reinterpret_cast<File*>(f);
  file->real = reinterpret_cast<sqlite3_file*>(file + 1);
  std::memset(file->real, 0, static_cast<size_t>(Real()->szOsFile));
  int rc = Real()->xOpen(Real(), name, file->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (file->real->pMethods != nullptr) file->real->pMethods->xClose(file->real);
    file->base.pMethods = nullptr;
    return rc;
  }
  file->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return Real()->xDelete(Real(), name, sync_dir);
}
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return Real()->xAccess(Real(), name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return Real()->xFullPathname(Real(), name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return Real()->xDlOpen(Real(), name); }
void DlError(sqlite3_vfs*, int n, char* out) { Real()->xDlError(Real(), n, out); }
void (*DlSym(sqlite3_vfs*, void* h, const char* sym))(void) {
  return Real()->xDlSym(Real(), h, sym);
}
void DlClose(sqlite3_vfs*, void* h) { Real()->xDlClose(Real(), h); }
int Randomness(sqlite3_vfs*, int n, char* out) { return Real()->xRandomness(Real(), n, out); }
int Sleep(sqlite3_vfs*, int us) { return Real()->xSleep(Real(), us); }
int CurrentTime(sqlite3_vfs*, double* out) { return Real()->xCurrentTime(Real(), out); }
int GetLastError(sqlite3_vfs*, int n, char* out) {
  if (injected_errno != 0) {
    int err = injected_errno;
    injected_errno = 0;
    return err;
  }
  return Real()->xGetLastError(Real(), n, out);
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return Real()->xCurrentTimeInt64(Real(), out);
}

}  // namespace

FaultVfs& FaultVfs::Get() {
  static FaultVfs* const vfs = [] {
    static sqlite3_vfs shim = {};
    shim.iVersion = 2;
    shim.szOsFile = static_cast<int>(sizeof(File)) + Real()->szOsFile;
    shim.mxPathname = Real()->mxPathname;
    shim.zName = kName;
    shim.xOpen = Open;
    shim.xDelete = Delete;
    shim.xAccess = Access;
    shim.xFullPathname = FullPathname;
    shim.xDlOpen = DlOpen;
    shim.xDlError = DlError;
    shim.xDlSym = DlSym;
    shim.xDlClose = DlClose;
    shim.xRandomness = Randomness;
    shim.xSleep = Sleep;
    shim.xCurrentTime = CurrentTime;
    shim.xGetLastError = GetLastError;
    shim.xCurrentTimeInt64 = CurrentTimeInt64;
    if (sqlite3_vfs_register(&shim, /*makeDflt=*/0) != SQLITE_OK) std::abort();
    return new FaultVfs;
  }();
  return *vfs;
}

}  // namespace sfactory::testing
