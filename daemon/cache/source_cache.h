// The content-addressed source cache: <cache_dir>/sources/sha256/<hex>,
// indexed by name in the store. Files enter it only after their digest is
// computed (and matched, when the catalog knows it), through a temporary
// file renamed into place: a cut upload or download leaves nothing behind.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/atomic_file.h"
#include "common/catalog.h"
#include "common/backoff.h"
#include "common/env.h"
#include "daemon/metrics/recorder.h"
#include "daemon/store/store.h"

namespace sfactory::cache {

struct ResolvedSource {
  SourceFile file;                // the catalog/recipe entry that matched
  std::string sha256;             // digest of the cached copy
  std::filesystem::path path;     // host path of the cached copy
  std::string relative_path;      // path below the sources dir ("sha256/<hex>")
};

// Receives the next chunk of an upload; returns false at the end.
using ChunkReader = std::function<absl::StatusOr<bool>(std::string* chunk)>;

// How a source is downloaded from the catalog's URLs.
struct DownloadPolicy {
  // Whole transfer, connecting included; a hung server cannot hold a build.
  absl::Duration total_timeout = absl::Minutes(30);
  // Bytes at most (max_source_size); 0 = no cap.
  uint64_t max_bytes = 0;
  // Retries of a URL that fails for a reason that may pass (no connection, a
  // 5xx or 429 answer, a cut transfer): the client's policy, slower.
  BackoffPolicy retry{.attempts = 4,
                      .initial_backoff = absl::Seconds(1),
                      .max_backoff = absl::Seconds(30),
                      .jitter = 0.2};
};

class SourceCache {
 public:
  // File writes go through `env` (tests inject faults there).
  SourceCache(std::filesystem::path root, store::Store* store, const Catalog* catalog,
              Env* env = Env::Default(), metrics::Recorder* metrics = &metrics::NullRecorder(),
              DownloadPolicy downloads = {})
      : root_(std::move(root)),
        store_(store),
        catalog_(catalog),
        env_(env),
        metrics_(metrics),
        downloads_(downloads) {}

  // Creates the directories and removes temporary files left by a crash.
  absl::Status Init();

  const std::filesystem::path& root() const { return root_; }

  // Stores an upload under `name`. When `expected_sha256` is set, or the
  // catalog knows a digest for `name`, a mismatch is InvalidArgument and
  // nothing is stored.
  absl::StatusOr<v1::Source> Add(const std::string& name, const std::string& expected_sha256,
                                 const ChunkReader& next);

  // Copies a host file in (same checks as Add).
  absl::StatusOr<v1::Source> AddFile(const std::filesystem::path& file, const std::string& name);

  // Finds a cached copy of any of `candidates` (in order), downloading the
  // first reachable URL when none is cached and `allow_downloads`. Progress
  // lines go to `log`. NotFound says what was expected and how to seed it.
  absl::StatusOr<ResolvedSource> Ensure(const std::vector<SourceFile>& candidates,
                                        bool allow_downloads,
                                        const std::function<void(absl::string_view)>& log);

 private:
  // A temporary file in tmp/, named by its digest once written.
  absl::StatusOr<AtomicFile> NewTemp();
  absl::StatusOr<v1::Source> Commit(const std::string& name, AtomicFile& tmp,
                                    const std::string& sha256, const std::string& expected_sha256);
  absl::StatusOr<v1::Source> Download(const SourceFile& file, const std::string& url);

  std::filesystem::path root_;
  store::Store* store_;
  const Catalog* catalog_;
  Env* env_;
  metrics::Recorder* metrics_;
  DownloadPolicy downloads_;
};

}  // namespace sfactory::cache
