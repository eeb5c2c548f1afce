#include "daemon/cache/source_cache.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/units.h"
#include "common/status.h"
#include "google/protobuf/util/time_util.h"

namespace sfactory::cache {
namespace fs = std::filesystem;
namespace {

struct DownloadState {
  AtomicFile* file;
  Sha256* hasher;
  uint64_t max_bytes = 0;
  uint64_t written = 0;
  absl::Status status;
};

size_t WriteCallback(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* st = static_cast<DownloadState*>(userdata);
  absl::string_view chunk(ptr, size * nmemb);
  st->written += chunk.size();
  if (st->max_bytes > 0 && st->written > st->max_bytes) {
    st->status = absl::ResourceExhaustedError(absl::StrCat(
        "it is larger than max_source_size (", FormatByteSize(st->max_bytes),
        "); nothing was stored. Raise max_source_size if the source is right"));
    return 0;
  }
  st->status = st->file->Append(chunk);
  if (!st->status.ok()) return 0;
  st->hasher->Update(chunk);
  return chunk.size();
}

}  // namespace

absl::Status SourceCache::Init() {
  SF_RETURN_IF_ERROR(MakeDirs(root_ / "sha256"));
  SF_RETURN_IF_ERROR(RemoveAll(root_ / "tmp"));
  return MakeDirs(root_ / "tmp");
}

absl::StatusOr<AtomicFile> SourceCache::NewTemp() {
  // Read-only from the start: cached sources are never modified.
  return AtomicFile::Create(root_ / "tmp" / "source", {.mode = 0444, .env = env_});
}

absl::StatusOr<v1::Source> SourceCache::Commit(const std::string& name, AtomicFile& tmp,
                                               const std::string& sha256,
                                               const std::string& expected_sha256) {
  // Both the uploader's digest and the catalog's (when it knows one) must match.
  std::vector<std::pair<std::string, std::string>> checks;
  if (!expected_sha256.empty()) checks.push_back({expected_sha256, "the uploader gave"});
  if (const SourceFile* known = catalog_->FindSource(name); known && !known->sha256.empty()) {
    checks.push_back({known->sha256, "the catalog expects"});
  }
  for (const auto& [expected, who] : checks) {
    if (expected != sha256) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " has sha256 ", sha256, " but ", who, " ", expected,
          "; the file is corrupt or a different release - nothing was stored"));
    }
  }
  const fs::path dest = root_ / "sha256" / sha256;
  std::error_code ec;
  const bool had_file = fs::exists(dest, ec);
  SF_RETURN_IF_ERROR(Annotate(tmp.CommitAs(dest), "store source " + name));
  v1::Source source;
  source.set_name(name);
  source.set_sha256(sha256);
  source.set_size(tmp.size());
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
  SF_ASSIGN_OR_RETURN(AtomicFile tmp, NewTemp());
  Sha256 hasher;
  std::string chunk;
  for (;;) {
    SF_ASSIGN_OR_RETURN(bool more, next(&chunk));
    if (!more) break;
    SF_RETURN_IF_ERROR(Annotate(tmp.Append(chunk), "write source " + name));
    hasher.Update(chunk);
  }
  if (tmp.size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("source ", name, " is empty; nothing was stored (send the whole file)"));
  }
  return Commit(name, tmp, hasher.FinishHex(), expected_sha256);
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
  SF_ASSIGN_OR_RETURN(AtomicFile tmp, NewTemp());
  Sha256 hasher;
  DownloadState st{&tmp, &hasher, downloads_.max_bytes};
  CURL* curl = curl_easy_init();
  if (!curl) return absl::InternalError("curl_easy_init failed");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 20L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(downloads_.total_timeout)));
  if (downloads_.max_bytes > 0) {
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(downloads_.max_bytes));
  }
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteCallback);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "sfactoryd");
  CURLcode rc = curl_easy_perform(curl);
  long http = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    if (!st.status.ok()) return Annotate(st.status, "download " + url);
    std::string why = absl::StrCat("download ", url, ": ", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (rc == CURLE_FILESIZE_EXCEEDED) {
      return absl::ResourceExhaustedError(absl::StrCat(
          why, ": larger than max_source_size (", FormatByteSize(downloads_.max_bytes),
          "); nothing was stored"));
    }
    // An answer that will not change (404, 403, ...) is not worth a retry.
    if (rc == CURLE_HTTP_RETURNED_ERROR && http != 429 && http < 500) {
      return absl::NotFoundError(why);
    }
    return absl::UnavailableError(why);
  }
  return Commit(file.name, tmp, hasher.FinishHex(), file.sha256);
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
        Backoff backoff(downloads_.retry);
        absl::StatusOr<v1::Source> s = Download(f, url);
        for (int attempt = 1; absl::IsUnavailable(s.status()) &&
                              attempt < downloads_.retry.attempts;
             ++attempt) {
          absl::Duration wait = backoff.Next();
          log(absl::StrCat(s.status().message(), "; retrying in ", absl::FormatDuration(wait),
                           " (attempt ", attempt + 1, " of ", downloads_.retry.attempts, ")"));
          absl::SleepFor(wait);
          s = Download(f, url);
        }
        metrics_->SourceDownload(s.ok(), s.ok() ? s->size() : 0);
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
