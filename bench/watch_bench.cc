// watch_bench [--followers N] [--stagger-ms MS] [--keep] [--sfactoryd PATH] [--source-dir DIR]
//
// N concurrent log followers of one build. It starts a real sfactoryd,
// submits hello with variant `slow` (about 30 s of compile output) and starts
// N WatchBuild(follow=true, log_offset=0) streams, one every MS milliseconds
// from the submit on, each on its own channel (as N `sfactory logs -f`
// processes would be). When the build has ended and every stream has closed,
// each follower's bytes are compared with <state>/logs/<id>.log byte for
// byte. Reports followers ok/total, bytes, and the time from the build's
// finished_at to each follower's end of stream; samples the daemon's thread
// count and RSS on the way (informational).
// Exits 1 when any follower missed, duplicated or reordered a byte, saw a
// gap in chunk offsets, ended without a terminal build event, or failed.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_daemon.h"
#include "common/fs.h"

namespace {

namespace fs = std::filesystem;
namespace v1 = sfactory::v1;
using namespace sfactory::bench;  // NOLINT: a benchmark's main file

const char kUsage[] =
    "usage: watch_bench [--followers N] [--stagger-ms MS] [--keep] [--sfactoryd PATH]\n"
    "                   [--source-dir DIR]\n";

struct Follower {
  std::string bytes;
  std::string error;
  int chunks = 0;
  bool saw_terminal = false;
  bool started_while_running = false;
  std::chrono::system_clock::time_point end;
};

bool Terminal(v1::BuildState s) {
  return s == v1::BUILD_STATE_SUCCEEDED || s == v1::BUILD_STATE_FAILED ||
         s == v1::BUILD_STATE_CANCELLED;
}

void Follow(const std::string& address, const std::string& id, Follower& f) {
  auto channel = MakeChannel(address, true);
  auto stub = v1::BuildService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  v1::WatchBuildRequest req;
  req.set_build_id(id);
  req.set_log_offset(0);
  req.set_follow(true);
  auto reader = stub->WatchBuild(&ctx, req);
  v1::BuildEvent ev;
  bool first = true;
  while (reader->Read(&ev)) {
    if (ev.has_build()) {
      if (first) f.started_while_running = !Terminal(ev.build().state());
      f.saw_terminal = Terminal(ev.build().state());
    } else if (ev.has_log()) {
      if (ev.log().offset() != f.bytes.size() && f.error.empty()) {
        f.error = absl::StrCat("chunk ", f.chunks, " starts at offset ", ev.log().offset(),
                               " after ", f.bytes.size(), " bytes");
      }
      f.bytes += ev.log().data();
      ++f.chunks;
    }
    first = false;
  }
  grpc::Status s = reader->Finish();
  f.end = std::chrono::system_clock::now();
  if (!s.ok() && f.error.empty()) f.error = "stream ended with " + s.error_message();
  if (s.ok() && !f.saw_terminal && f.error.empty())
    f.error = "the last build event is not terminal";
}

int Main(int argc, char** argv) {
  int n = 50;
  int stagger_ms = 500;
  CommonFlags flags = ParseFlags(argc, argv, kUsage, [&](const std::string& a, const char* next) {
    if (a == "--followers" && next) {
      n = std::clamp(std::atoi(next), 1, 500);
      return 2;
    }
    if (a == "--stagger-ms" && next) {
      stagger_ms = std::clamp(std::atoi(next), 0, 10000);
      return 2;
    }
    return 0;
  });
  std::printf("watch_bench: %s\n", MachineDescription().c_str());
  auto d_or = Daemon::StartWithHelloSource(flags, "watch");
  if (!d_or.ok()) {
    std::fprintf(stderr, "watch_bench: %s\n", d_or.status().ToString().c_str());
    return 1;
  }
  Daemon& d = **d_or;
  auto fail = [&](const std::string& why) { return d.Fail("watch_bench", why); };
  v1::SubmitBuildRequest req;
  req.mutable_spec()->set_slurm_version("24.11");
  req.mutable_spec()->set_recipe("hello");
  req.mutable_spec()->add_variants("slow");
  v1::SubmitBuildResponse resp;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status s = d.builds().SubmitBuild(&ctx, req, &resp);
    if (!s.ok()) return fail("SubmitBuild: " + s.error_message());
  }
  const std::string id = resp.build().id();
  const auto t0 = Clock::now();
  std::printf(
      "build     %s (hello, variant slow) submitted; %d followers, one every %d ms, "
      "a channel each\n",
      id.c_str(), n, stagger_ms);

  // Daemon threads and RSS, every 100 ms, until the followers are done.
  std::atomic<bool> stop{false};
  uint64_t max_threads = 0, max_rss_kb = 0;
  std::thread sampler([&] {
    while (!stop.load()) {
      max_threads = std::max(max_threads, ProcStatus(d.pid(), "Threads").value_or(0));
      max_rss_kb = std::max(max_rss_kb, ProcStatus(d.pid(), "VmRSS").value_or(0));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  std::vector<Follower> followers(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    std::this_thread::sleep_until(t0 + std::chrono::milliseconds(i * stagger_ms));
    threads.emplace_back([&, i] { Follow(d.address(), id, followers[i]); });
  }
  const double started_by = SecondsSince(t0);
  v1::Build final;
  for (int i = 0;; ++i) {
    auto b = d.GetBuild(id);
    if (b.ok() && Terminal(b->state())) {
      final = *b;
      break;
    }
    if (i > 5 * 600) {  // 10 minutes
      stop = true;
      sampler.join();
      for (auto& t : threads) t.join();  // their deadline is 5 minutes
      return fail("the build did not end within 10 minutes");
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  const double build_s = SecondsSince(t0);
  for (auto& t : threads) t.join();
  stop = true;
  sampler.join();
  if (final.state() != v1::BUILD_STATE_SUCCEEDED) {
    return fail(
        absl::StrCat("build ended ", v1::BuildState_Name(final.state()), ": ", final.error()));
  }

  auto log = sfactory::ReadFile(d.state_dir() / "logs" / (id + ".log"));
  if (!log.ok()) return fail(log.status().ToString());
  const auto finished =
      std::chrono::system_clock::time_point(std::chrono::seconds(final.finished_at().seconds()) +
                                            std::chrono::nanoseconds(final.finished_at().nanos()));
  int ok = 0, during = 0;
  uint64_t total_bytes = 0;
  long chunks = 0;
  std::vector<double> lag_ms;
  for (int i = 0; i < n; ++i) {
    Follower& f = followers[i];
    if (f.error.empty() && f.bytes != *log) {
      size_t at = 0;
      while (at < f.bytes.size() && at < log->size() && f.bytes[at] == (*log)[at]) ++at;
      f.error = absl::StrCat("received ", f.bytes.size(), " bytes, the log has ", log->size(),
                             "; first difference at byte ", at);
    }
    if (f.error.empty()) {
      ++ok;
    } else {
      std::fprintf(stderr, "  follower %d: %s\n", i, f.error.c_str());
    }
    during += f.started_while_running;
    total_bytes += f.bytes.size();
    chunks += f.chunks;
    lag_ms.push_back(std::chrono::duration<double, std::milli>(f.end - finished).count());
  }
  std::printf(
      "build     %s SUCCEEDED %.1f s after submit; all followers started by %.1f s, "
      "%d of them while the build was still running\n",
      id.c_str(), build_s, started_by, during);
  std::printf("log       %zu bytes; followers received %lu bytes in %ld chunks in total\n",
              log->size(), static_cast<unsigned long>(total_bytes), chunks);
  std::printf("daemon    peak %lu threads, peak VmRSS %.1f MiB during the run (100 ms samples)\n",
              static_cast<unsigned long>(max_threads), max_rss_kb / 1024.0);
  std::vector<double> lags = lag_ms;
  std::printf("\nSUMMARY watch_bench (%d followers of one build)\n", n);
  std::printf(
      "  followers with the exact log (byte for byte, contiguous offsets, terminal event): "
      "%d/%d  %s\n",
      ok, n, ok == n ? "PASS" : "FAIL");
  std::printf(
      "  build finished_at -> follower end of stream: p50 %.0f ms, max %.0f ms "
      "(the last follower ended %.0f ms after the build ended)\n",
      Percentile(lags, 50), Percentile(lags, 100), Percentile(lags, 100));
  if (ok != n) {
    d.Keep();
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
