// The Prometheus endpoint (`metrics_listen`): prometheus-cpp's registry and
// its civetweb exposer serving GET /metrics in the text format.
//
// Counters and histograms move as the Recorder methods are called; gauges
// (queue, provider, cache sizes, ccache) are read when Prometheus scrapes,
// the slow ones (directory sizes, `ccache --print-stats`) at most every
// `slow_refresh`. Names follow Prometheus' conventions: sfactory_ prefix,
// base units (seconds, bytes), _total for counters.
//
//   sfactory_build_info{version}                       1
//   sfactory_builds_total{result,series,recipe}        counter
//   sfactory_build_duration_seconds{recipe,result}     histogram
//   sfactory_phase_duration_seconds{recipe,phase}      histogram
//   sfactory_builds{state="queued"|"running"}          gauge
//   sfactory_provider_up                               gauge, 1 or 0
//   sfactory_cache_bytes{area}, sfactory_cache_files{area}   gauges
//   sfactory_ccache_hits_total, sfactory_ccache_misses_total  counters (from ccache)
//   sfactory_source_downloads_total{result}            counter
//   sfactory_source_download_bytes_total               counter
//   sfactory_fetch_bytes_total                         counter
//   sfactory_grpc_requests_total{method,code}          counter
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/metrics/recorder.h"

namespace sfactory::metrics {

struct AreaUsage {
  std::string name;
  uint64_t bytes = 0;
  uint64_t files = 0;
};

// Where the scrape-time values come from.
struct ScrapeSources {
  std::function<int()> queued;
  std::function<int()> running;
  std::function<bool()> provider_up;
  std::function<absl::StatusOr<std::vector<AreaUsage>>()> cache_usage;
  std::filesystem::path ccache_dir;  // empty: no ccache metrics
  absl::Duration slow_refresh = absl::Seconds(30);
};

class Exporter : public Recorder {
 public:
  // Serves on `listen` ("127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464").
  // InvalidArgument when the address cannot be bound, naming metrics_listen.
  static absl::StatusOr<std::unique_ptr<Exporter>> Start(const std::string& listen,
                                                         const std::string& version,
                                                         ScrapeSources sources);
  ~Exporter() override;

  void BuildFinished(const v1::Build& build) override;
  void SourceDownload(bool ok, uint64_t bytes) override;
  void FetchBytes(uint64_t bytes) override;
  void Rpc(absl::string_view method, int code) override;

  // The port it listens on (useful with port 0).
  int port() const;
  // The text a scrape returns now (for the unit tests).
  std::string Scrape() const;

  struct Impl;

 private:
  explicit Exporter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ccache's counters in `dir` via `ccache --print-stats`: hits (direct and
// preprocessed) and misses. NotFound when ccache is not installed.
struct CcacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
};
absl::StatusOr<CcacheStats> ReadCcacheStats(const std::filesystem::path& dir);
// The parser, for the tests: tab-separated "name\tvalue" lines.
CcacheStats ParseCcacheStats(absl::string_view text);

}  // namespace sfactory::metrics
