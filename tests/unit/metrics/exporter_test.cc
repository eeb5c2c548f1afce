// The Prometheus exporter: what the recorder methods and scrape-time
// sources turn into, and a clear error when the address is taken.
#include "daemon/metrics/exporter.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace sfactory::metrics {
namespace {

v1::Build Ended(v1::BuildState state) {
  v1::Build b;
  b.set_state(state);
  b.mutable_spec()->set_slurm_version("24.11.7");
  b.mutable_spec()->set_recipe("native");
  b.mutable_started_at()->set_seconds(1000);
  b.mutable_finished_at()->set_seconds(1400);
  v1::PhaseTiming* p = b.add_phases();
  p->set_name("configure");
  p->set_seconds(42);
  return b;
}

ScrapeSources Sources(int* queued) {
  ScrapeSources s;
  s.queued = [queued] { return *queued; };
  s.running = [] { return 1; };
  s.provider_up = [] { return false; };
  s.cache_usage = []() -> absl::StatusOr<std::vector<AreaUsage>> {
    return std::vector<AreaUsage>{{"artifacts", 4096, 3}};
  };
  return s;
}

TEST_CASE("the exporter counts builds, steps, RPCs and bytes, and reads gauges at scrape time",
          "[metrics]") {
  int queued = 2;
  auto exporter = Exporter::Start("127.0.0.1:0", "1.2.3", Sources(&queued));
  REQUIRE(exporter.ok());
  Exporter& e = **exporter;
  CHECK(e.port() > 0);
  e.BuildFinished(Ended(v1::BUILD_STATE_SUCCEEDED));
  e.BuildFinished(Ended(v1::BUILD_STATE_SUCCEEDED));
  e.BuildFinished(Ended(v1::BUILD_STATE_FAILED));
  e.Rpc("sfactory.v1.BuildService/SubmitBuild", 0);
  e.Rpc("sfactory.v1.BuildService/GetBuild", 5);
  e.FetchBytes(1000);
  e.FetchBytes(24);
  e.SourceDownload(true, 500);
  e.SourceDownload(false, 0);
  queued = 7;
  const std::string text = e.Scrape();
  INFO(text);
  CHECK(absl::StrContains(text, "sfactory_build_info{version=\"1.2.3\"} 1"));
  CHECK(absl::StrContains(
      text, "sfactory_builds_total{recipe=\"native\",result=\"succeeded\",series=\"24.11\"} 2"));
  CHECK(absl::StrContains(
      text, "sfactory_builds_total{recipe=\"native\",result=\"failed\",series=\"24.11\"} 1"));
  CHECK(absl::StrContains(
      text, "sfactory_build_duration_seconds_count{recipe=\"native\",result=\"succeeded\"} 2"));
  CHECK(absl::StrContains(
      text, "sfactory_build_duration_seconds_sum{recipe=\"native\",result=\"succeeded\"} 800"));
  CHECK(absl::StrContains(
      text, "sfactory_phase_duration_seconds_bucket{phase=\"configure\",recipe=\"native\",le=\"60\"} 3"));
  CHECK(absl::StrContains(
      text, "sfactory_grpc_requests_total{code=\"NOT_FOUND\",method=\"sfactory.v1.BuildService/GetBuild\"} 1"));
  CHECK(absl::StrContains(text, "sfactory_fetch_bytes_total 1024"));
  CHECK(absl::StrContains(text, "sfactory_source_downloads_total{result=\"ok\"} 1"));
  CHECK(absl::StrContains(text, "sfactory_source_downloads_total{result=\"failed\"} 1"));
  CHECK(absl::StrContains(text, "sfactory_source_download_bytes_total 500"));
  CHECK(absl::StrContains(text, "sfactory_builds{state=\"queued\"} 7"));
  CHECK(absl::StrContains(text, "sfactory_builds{state=\"running\"} 1"));
  CHECK(absl::StrContains(text, "sfactory_provider_up 0"));
  CHECK(absl::StrContains(text, "sfactory_cache_bytes{area=\"artifacts\"} 4096"));
  CHECK(absl::StrContains(text, "sfactory_cache_files{area=\"artifacts\"} 3"));
  CHECK(absl::StrContains(text, "# TYPE sfactory_builds_total counter"));
  CHECK(absl::StrContains(text, "# TYPE sfactory_builds gauge"));
}

TEST_CASE("a taken metrics address is an error that names metrics_listen", "[metrics]") {
  int queued = 0;
  auto first = Exporter::Start("127.0.0.1:0", "1", Sources(&queued));
  REQUIRE(first.ok());
  const std::string taken = absl::StrCat("127.0.0.1:", (*first)->port());
  auto second = Exporter::Start(taken, "1", Sources(&queued));
  REQUIRE(!second.ok());
  CHECK(absl::IsInvalidArgument(second.status()));
  CHECK(absl::StrContains(second.status().message(), "metrics_listen"));
  CHECK(absl::StrContains(second.status().message(), taken));
}

TEST_CASE("ccache's machine-readable stats give hits and misses", "[metrics]") {
  CcacheStats s = ParseCcacheStats(
      "cache_miss\t7\ndirect_cache_hit\t30\npreprocessed_cache_hit\t5\nfiles_in_cache\t99\nbad line\n");
  CHECK(s.hits == 35);
  CHECK(s.misses == 7);
}

}  // namespace
}  // namespace sfactory::metrics
