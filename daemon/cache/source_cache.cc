#include "daemon/cache/source_cache.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/status.h"
#include "google/protobuf/util/time_util.h"

namespace sfactory::cache {
namespace fs = std::filesystem;
namespace {

std::atomic<uint64_t> tmp_counter{0};

fs::path TmpPath(const fs::path& root) {
  return root / "tmp" / absl::StrCat(::getpid(), ".", tmp_counter++, ".part");
}

struct DownloadState {
  int fd;
  Sha256* hasher;
  uint64_t size = 0;
  absl::Status status;
};

size_t WriteCallback(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* st = static_cast<DownloadState*>(userdata);
  absl::string_view chunk(ptr, size * nmemb);
  st->status = WriteAll(st->fd, chunk);
  if (!st->status.ok()) return 0;
  st->hasher->Update(chunk);
  st->size += chunk.size();
  return chunk.size();
}

}  // namespace

absl::Status SourceCache::Init() {
  SF_RETURN_IF_ERROR(MakeDirs(root_ / "sha256"));
  SF_RETURN_IF_ERROR(RemoveAll(root_ / "tmp"));
  return MakeDirs(root_ / "tmp");
}

absl::StatusOr<v1::Source> SourceCache::Commit(const std::string& name, const fs::path& tmp,
                                               const std::string& sha256, uint64_t size,
                                               const std::string& expected_sha256) {
  // Both the uploader's digest and the catalog's (when it knows one) must match.
  std::vector<std::pair<std::string, std::string>> checks;
  if (!expected_sha256.empty()) checks.push_back({expected_sha256, "the uploader gave"});
  if (const SourceFile* known = catalog_->FindSource(name); known && !known->sha256.empty()) {
    checks.push_back({known->sha256, "the catalog expects"});
  }
  for (const auto& [expected, who] : checks) {
    if (expected != sha256) {
      (void)RemoveAll(tmp);
      return absl::InvalidArgumentError(absl::StrCat(
          name, " has sha256 ", sha256, " but ", who, " ", expected,
          "; the file is corrupt or a different release - nothing was stored"));
    }
  }
  fs::path dest = root_ / "sha256" / sha256;
  std::error_code ec;
  const bool had_file = fs::exists(dest, ec);
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    int err = errno;
    (void)RemoveAll(tmp);
    return ErrnoStatus(err, "store source " + name);
  }
  ::chmod(dest.c_str(), 0444);
  v1::Source source;
  source.set_name(name);
  source.set_sha256(sha256);
  source.set_size(size);
  *source.mutable_added_at() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(absl::Now()));
  if (absl::Status s = store_->InsertSource(source); !s.ok()) {
    // Refused (e.g. the name is stored with other bytes): bytes that only
    // this upload brought do not stay behind, unreferenced.
    if (!had_file) (void)RemoveAll(dest);
    return s;
  }
  return source;
}

absl::StatusOr<v1::Source> SourceCache::Add(const std::string& name,
                                            const std::string& expected_sha256,
                                            const ChunkReader& next) {
  fs::path tmp = TmpPath(root_);
  SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644));
  Sha256 hasher;
  uint64_t size = 0;
  std::string chunk;
  for (;;) {
    auto more = next(&chunk);
    if (!more.ok()) {
      (void)RemoveAll(tmp);
      return more.status();
    }
    if (!*more) break;
    if (absl::Status s = WriteAll(fd.get(), chunk); !s.ok()) {
      (void)RemoveAll(tmp);
      return Annotate(s, "write source " + name);
    }
    hasher.Update(chunk);
    size += chunk.size();
  }
  if (size == 0) {
    (void)RemoveAll(tmp);
    return absl::InvalidArgumentError(
        absl::StrCat("source ", name, " is empty; nothing was stored (send the whole file)"));
  }
  if (::fsync(fd.get()) != 0) {
    int err = errno;
    (void)RemoveAll(tmp);
    return ErrnoStatus(err, "fsync source " + name);
  }
  return Commit(name, tmp, hasher.FinishHex(), size, expected_sha256);
}

absl::StatusOr<v1::Source> SourceCache::AddFile(const fs::path& file, const std::string& name) {
  SF_ASSIGN_OR_RETURN(Fd in, OpenFile(file, O_RDONLY));
  return Add(name, "", [&](std::string* chunk) -> absl::StatusOr<bool> {
    chunk->resize(1 << 20);
    ssize_t n;
    do {
      n = ::read(in.get(), chunk->data(), chunk->size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) return ErrnoStatus(errno, "read " + file.string());
    chunk->resize(static_cast<size_t>(n));
    return n > 0;
  });
}

absl::StatusOr<v1::Source> SourceCache::Download(const SourceFile& file, const std::string& url) {
  fs::path tmp = TmpPath(root_);
  SF_ASSIGN_OR_RETURN(Fd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644));
  Sha256 hasher;
  DownloadState st{fd.get(), &hasher};
  CURL* curl = curl_easy_init();
  if (!curl) return absl::InternalError("curl_easy_init failed");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 20L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteCallback);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "sfactoryd");
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    (void)RemoveAll(tmp);
    if (!st.status.ok()) return Annotate(st.status, "download " + url);
    return absl::UnavailableError(
        absl::StrCat("download ", url, ": ", errbuf[0] ? errbuf : curl_easy_strerror(rc)));
  }
  if (::fsync(fd.get()) != 0) {
    int err = errno;
    (void)RemoveAll(tmp);
    return ErrnoStatus(err, "fsync download");
  }
  return Commit(file.name, tmp, hasher.FinishHex(), st.size, file.sha256);
}

absl::StatusOr<ResolvedSource> SourceCache::Ensure(
    const std::vector<SourceFile>& candidates, bool allow_downloads,
    const std::function<void(absl::string_view)>& log) {
  auto resolved = [&](const SourceFile& f, const std::string& sha) {
    ResolvedSource r;
    r.file = f;
    r.sha256 = sha;
    r.relative_path = absl::StrCat("sha256/", sha);
    r.path = root_ / r.relative_path;
    return r;
  };
  for (const auto& f : candidates) {
    std::error_code ec;
    if (!f.sha256.empty()) {
      if (fs::exists(root_ / "sha256" / f.sha256, ec)) {
        log(absl::StrCat("source ", f.name, " found in cache (sha256 ", f.sha256, ")"));
        return resolved(f, f.sha256);
      }
      continue;
    }
    SF_ASSIGN_OR_RETURN(auto known, store_->FindSourceByName(f.name));
    if (known && fs::exists(root_ / "sha256" / known->sha256(), ec)) {
      log(absl::StrCat("source ", f.name, " found in cache (sha256 ", known->sha256(),
                       "; the catalog has no digest for it, so the cached copy is trusted)"));
      return resolved(f, known->sha256());
    }
  }
  std::vector<std::string> errors;
  if (allow_downloads) {
    for (const auto& f : candidates) {
      for (const auto& url : f.urls) {
        log(absl::StrCat("downloading ", url));
        auto s = Download(f, url);
        if (s.ok()) {
          log(absl::StrCat("stored ", f.name, " (", s->size(), " bytes, sha256 ", s->sha256(), ")"));
          return resolved(f, s->sha256());
        }
        log(std::string(s.status().message()));
        errors.push_back(std::string(s.status().message()));
      }
    }
  }
  std::vector<std::string> expected;
  for (const auto& f : candidates) {
    expected.push_back(f.sha256.empty() ? f.name : absl::StrCat(f.name, " (sha256 ", f.sha256, ")"));
  }
  return absl::NotFoundError(absl::StrCat(
      "no source in the cache: expected one of ", absl::StrJoin(expected, ", "),
      allow_downloads ? (errors.empty() ? "; no URL to download from"
                                        : "; every download failed (see the build log)")
                      : "; downloads are off (allow_downloads: false)",
      ". Seed it with `sfactory sources add FILE`"));
}

}  // namespace sfactory::cache
