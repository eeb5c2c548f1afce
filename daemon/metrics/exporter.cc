#include "daemon/metrics/exporter.h"

#include <exception>
#include <map>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/build_state.h"
#include "common/spec.h"
#include "common/subprocess.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace sfactory::metrics {
namespace {

const prometheus::Histogram::BucketBoundaries& BuildBuckets() {
  // 10 s to 4 h: a hello build to a Spack build from scratch.
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 7200, 14400};
  return *b;
}

const prometheus::Histogram::BucketBoundaries& PhaseBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1200, 3600};
  return *b;
}

prometheus::MetricFamily Family(const std::string& name, const std::string& help,
                                prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

prometheus::ClientMetric Value(double v, prometheus::MetricType type,
                               std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (type == prometheus::MetricType::Counter) m.counter.value = v;
  else m.gauge.value = v;
  return m;
}

// The values read when Prometheus scrapes.
class ScrapeCollector : public prometheus::Collectable {
 public:
  explicit ScrapeCollector(ScrapeSources s) : s_(std::move(s)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;
    auto builds = Family("sfactory_builds", "Builds queued or running now", MetricType::Gauge);
    builds.metric.push_back(Value(s_.queued ? s_.queued() : 0, MetricType::Gauge, {{"state", "queued"}}));
    builds.metric.push_back(Value(s_.running ? s_.running() : 0, MetricType::Gauge, {{"state", "running"}}));
    out.push_back(std::move(builds));
    auto up = Family("sfactory_provider_up",
                     "1 when the build provider (LXD or local) is usable, else 0", MetricType::Gauge);
    up.metric.push_back(Value(s_.provider_up && s_.provider_up() ? 1 : 0, MetricType::Gauge));
    out.push_back(std::move(up));

    absl::MutexLock lock(&mu_);
    if (absl::Now() - refreshed_ >= s_.slow_refresh) Refresh();
    auto bytes = Family("sfactory_cache_bytes",
                        "Bytes on disk per area of the state and cache dirs", MetricType::Gauge);
    auto files = Family("sfactory_cache_files",
                        "Files per area of the state and cache dirs", MetricType::Gauge);
    for (const AreaUsage& a : areas_) {
      bytes.metric.push_back(Value(static_cast<double>(a.bytes), MetricType::Gauge, {{"area", a.name}}));
      files.metric.push_back(Value(static_cast<double>(a.files), MetricType::Gauge, {{"area", a.name}}));
    }
    out.push_back(std::move(bytes));
    out.push_back(std::move(files));
    if (have_ccache_) {
      auto hits = Family("sfactory_ccache_hits_total",
                         "Compilations ccache answered from the shared cache", MetricType::Counter);
      hits.metric.push_back(Value(static_cast<double>(ccache_.hits), MetricType::Counter));
      auto misses = Family("sfactory_ccache_misses_total",
                           "Compilations ccache had to run", MetricType::Counter);
      misses.metric.push_back(Value(static_cast<double>(ccache_.misses), MetricType::Counter));
      out.push_back(std::move(hits));
      out.push_back(std::move(misses));
    }
    return out;
  }

 private:
  void Refresh() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    refreshed_ = absl::Now();
    if (s_.cache_usage) {
      if (auto usage = s_.cache_usage(); usage.ok()) areas_ = *std::move(usage);
    }
    if (!s_.ccache_dir.empty()) {
      if (auto stats = ReadCcacheStats(s_.ccache_dir); stats.ok()) {
        ccache_ = *stats;
        have_ccache_ = true;
      }
    }
  }

  ScrapeSources s_;
  mutable absl::Mutex mu_;
  mutable absl::Time refreshed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  mutable std::vector<AreaUsage> areas_ ABSL_GUARDED_BY(mu_);
  mutable CcacheStats ccache_ ABSL_GUARDED_BY(mu_);
  mutable bool have_ccache_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

struct Exporter::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<ScrapeCollector> scrape;
  std::unique_ptr<prometheus::Exposer> exposer;
  prometheus::Family<prometheus::Counter>* builds = nullptr;
  prometheus::Family<prometheus::Histogram>* build_seconds = nullptr;
  prometheus::Family<prometheus::Histogram>* phase_seconds = nullptr;
  prometheus::Family<prometheus::Counter>* downloads = nullptr;
  prometheus::Counter* download_bytes = nullptr;
  prometheus::Counter* fetch_bytes = nullptr;
  prometheus::Family<prometheus::Counter>* rpcs = nullptr;
};

absl::StatusOr<std::unique_ptr<Exporter>> Exporter::Start(const std::string& listen,
                                                          const std::string& version,
                                                          ScrapeSources sources) {
  auto impl = std::make_unique<Impl>();
  prometheus::Registry& r = *impl->registry;
  prometheus::BuildGauge()
      .Name("sfactory_build_info")
      .Help("The running sfactoryd's version (always 1)")
      .Register(r)
      .Add({{"version", version}})
      .Set(1);
  impl->builds = &prometheus::BuildCounter()
                      .Name("sfactory_builds_total")
                      .Help("Builds that ended, by result, Slurm series and recipe")
                      .Register(r);
  impl->build_seconds = &prometheus::BuildHistogram()
                             .Name("sfactory_build_duration_seconds")
                             .Help("Wall time of ended builds, from start to end")
                             .Register(r);
  impl->phase_seconds = &prometheus::BuildHistogram()
                             .Name("sfactory_phase_duration_seconds")
                             .Help("Wall time of each step of ended builds")
                             .Register(r);
  impl->downloads = &prometheus::BuildCounter()
                         .Name("sfactory_source_downloads_total")
                         .Help("Source tarball downloads from the catalog's URLs, by result")
                         .Register(r);
  impl->download_bytes = &prometheus::BuildCounter()
                              .Name("sfactory_source_download_bytes_total")
                              .Help("Bytes of source tarballs downloaded")
                              .Register(r)
                              .Add({});
  impl->fetch_bytes = &prometheus::BuildCounter()
                           .Name("sfactory_fetch_bytes_total")
                           .Help("Artifact bytes sent to FetchArtifact callers")
                           .Register(r)
                           .Add({});
  impl->rpcs = &prometheus::BuildCounter()
                    .Name("sfactory_grpc_requests_total")
                    .Help("gRPC calls that ended, by method and status code")
                    .Register(r);
  impl->scrape = std::make_shared<ScrapeCollector>(std::move(sources));
  try {
    impl->exposer = std::make_unique<prometheus::Exposer>(listen, 2);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics_listen: cannot serve metrics on ", listen, " (", e.what(),
        "); is the port in use? Choose another address or leave metrics_listen empty"));
  }
  impl->exposer->RegisterCollectable(impl->registry);
  impl->exposer->RegisterCollectable(impl->scrape);
  return std::unique_ptr<Exporter>(new Exporter(std::move(impl)));
}

Exporter::Exporter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Exporter::~Exporter() = default;

void Exporter::BuildFinished(const v1::Build& b) {
  const std::string result = BuildStateName(b.state());
  const std::string& recipe = b.spec().recipe();
  impl_->builds->Add({{"result", result}, {"series", SeriesOf(b.spec().slurm_version())},
                      {"recipe", recipe}})
      .Increment();
  if (b.has_started_at() && b.has_finished_at()) {
    double secs = static_cast<double>(b.finished_at().seconds() - b.started_at().seconds()) +
                  (b.finished_at().nanos() - b.started_at().nanos()) / 1e9;
    impl_->build_seconds->Add({{"recipe", recipe}, {"result", result}}, BuildBuckets())
        .Observe(std::max(0.0, secs));
  }
  for (const v1::PhaseTiming& p : b.phases()) {
    impl_->phase_seconds->Add({{"recipe", recipe}, {"phase", p.name()}}, PhaseBuckets())
        .Observe(p.seconds());
  }
}

void Exporter::SourceDownload(bool ok, uint64_t bytes) {
  impl_->downloads->Add({{"result", ok ? "ok" : "failed"}}).Increment();
  impl_->download_bytes->Increment(static_cast<double>(bytes));
}

void Exporter::FetchBytes(uint64_t bytes) { impl_->fetch_bytes->Increment(static_cast<double>(bytes)); }

void Exporter::Rpc(absl::string_view method, int code) {
  // gRPC's codes are absl's, number for number.
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  if (name.empty()) name = absl::StrCat(code);
  impl_->rpcs->Add({{"method", std::string(method)}, {"code", name}}).Increment();
}

int Exporter::port() const {
  std::vector<int> ports = impl_->exposer->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

std::string Exporter::Scrape() const {
  std::vector<prometheus::MetricFamily> families = impl_->registry->Collect();
  for (auto& f : impl_->scrape->Collect()) families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

CcacheStats ParseCcacheStats(absl::string_view text) {
  CcacheStats s;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> kv = absl::StrSplit(line, '\t');
    uint64_t v = 0;
    if (kv.size() != 2 || !absl::SimpleAtoi(kv[1], &v)) continue;
    if (kv[0] == "direct_cache_hit" || kv[0] == "preprocessed_cache_hit") s.hits += v;
    if (kv[0] == "cache_miss") s.misses += v;
  }
  return s;
}

absl::StatusOr<CcacheStats> ReadCcacheStats(const std::filesystem::path& dir) {
  absl::StatusOr<RunResult> r = RunCapture({"ccache", "--print-stats"},
                                           ScrubbedEnv({"CCACHE_DIR=" + dir.string()}));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::NotFoundError(absl::StrCat("ccache --print-stats exited ", r->exit_code));
  }
  return ParseCcacheStats(r->output);
}

}  // namespace sfactory::metrics
