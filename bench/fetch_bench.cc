// fetch_bench [--runs N] [--no-cli] [--keep] [--sfactoryd PATH] [--sfactory PATH] [--source-dir
// DIR]
//
// Fetching a 1 GiB artifact over the daemon's unix socket, against doing the
// same per-byte work locally. It starts a real sfactoryd, builds `hello` with
// variant `big` (a 1 GiB incompressible file in the package; no verify) and
// then, N times in alternating order:
//   baseline  pread the stored artifact (<state>/artifacts/sha256/<digest>,
//             page cache warm) in 1 MiB chunks, the daemon's chunk size, and
//             do what client/fetch.cc does per chunk: write(2) it to
//             <out>/<name>.part, feed it to sha256; then fsync, rename,
//             fsync the directory, and compare the digest.
//   grpc      FetchArtifact through the generated stub doing exactly that
//             same per-chunk work on the received messages.
//   cli       (informational) the real `sfactory fetch ID -o DIR --name N`.
// Targets: grpc throughput >= 0.5 x baseline; the daemon's RSS (sampled
// every 20 ms during the grpc and cli fetches, and VmHWM reset before each)
// under 100 MiB. Exits 1 only when a fetch is wrong (digest, size, error).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/bench_daemon.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/status.h"

namespace {

namespace fs = std::filesystem;
namespace v1 = sfactory::v1;
using namespace sfactory::bench;  // NOLINT: a benchmark's main file
using sfactory::Fd;

constexpr size_t kChunk = 1 << 20;  // daemon/service/build_service.cc kFetchChunk

const char kUsage[] =
    "usage: fetch_bench [--runs N] [--no-cli] [--keep] [--sfactoryd PATH] [--sfactory PATH]\n"
    "                   [--source-dir DIR]\n";

struct Sample {
  double total = 0;   // seconds, open to durable rename
  double stream = 0;  // seconds, open to last byte written (before fsync)
  bool ok = false;
  std::string error;
};

// The end of client/fetch.cc's FetchArtifact: digest check, fsync, rename,
// fsync of the directory.
absl::Status Commit(Fd& fd, sfactory::Sha256& hasher, const fs::path& part, const fs::path& dest,
                    const v1::Artifact& a) {
  std::string digest = hasher.FinishHex();
  if (digest != a.sha256()) {
    return absl::DataLossError(absl::StrCat("sha256 ", digest, " != ", a.sha256()));
  }
  return sfactory::CommitFile(part, dest);  // `fd` stays open, as in the client
}

Sample Finish(const Clock::time_point t0, double stream, const absl::Status& s) {
  Sample out;
  out.total = SecondsSince(t0);
  out.stream = stream;
  out.ok = s.ok();
  out.error = std::string(s.message());
  return out;
}

Sample RunBaseline(const fs::path& stored, const v1::Artifact& a, const fs::path& out_dir) {
  const fs::path dest = out_dir / a.name();
  fs::path part = dest;
  part += ".part";
  auto t0 = Clock::now();
  double stream = 0;
  absl::Status s = [&]() -> absl::Status {
    SF_ASSIGN_OR_RETURN(Fd in, sfactory::OpenFile(stored, O_RDONLY));
    ::posix_fadvise(in.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    SF_ASSIGN_OR_RETURN(Fd fd, sfactory::OpenFile(part, O_WRONLY | O_CREAT | O_TRUNC));
    sfactory::Sha256 hasher;
    std::string buf;
    uint64_t have = 0;
    while (have < a.size()) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, a.size() - have));
      buf.resize(want);
      SF_ASSIGN_OR_RETURN(size_t n, sfactory::PreadFull(in.get(), buf.data(), want, have));
      if (n != want) return absl::DataLossError("stored artifact is short");
      SF_RETURN_IF_ERROR(sfactory::WriteAll(fd.get(), buf));
      hasher.Update(buf);
      have += n;
    }
    stream = SecondsSince(t0);
    return Commit(fd, hasher, part, dest, a);
  }();
  return Finish(t0, stream, s);
}

Sample RunGrpc(const std::string& address, const std::string& build_id, const v1::Artifact& a,
               const fs::path& out_dir) {
  const fs::path dest = out_dir / a.name();
  fs::path part = dest;
  part += ".part";
  // A fresh channel per fetch, as each `sfactory fetch` process has.
  auto channel = MakeChannel(address, true);
  auto stub = v1::BuildService::NewStub(channel);
  auto t0 = Clock::now();
  double stream = 0;
  absl::Status s = [&]() -> absl::Status {
    SF_ASSIGN_OR_RETURN(Fd fd, sfactory::OpenFile(part, O_WRONLY | O_CREAT | O_TRUNC));
    sfactory::Sha256 hasher;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
    v1::FetchArtifactRequest req;
    req.set_build_id(build_id);
    req.set_name(a.name());
    auto reader = stub->FetchArtifact(&ctx, req);
    v1::FetchArtifactResponse chunk;
    uint64_t have = 0;
    bool first = true;
    absl::Status local;
    while (local.ok() && reader->Read(&chunk)) {
      if (first) {
        first = false;
        if (chunk.artifact().sha256() != a.sha256() || chunk.artifact().size() != a.size()) {
          local = absl::DataLossError("first chunk announces another artifact");
          break;
        }
      }
      const std::string& data = chunk.data();
      if (data.empty()) continue;
      if (chunk.offset() != have || data.size() > a.size() - have) {
        local = absl::DataLossError(absl::StrCat("chunk at ", chunk.offset(), " (", data.size(),
                                                 " bytes) where ", have, " was expected"));
        break;
      }
      local = sfactory::WriteAll(fd.get(), data);
      hasher.Update(data);
      have += data.size();
    }
    if (!local.ok()) {
      ctx.TryCancel();
      reader->Finish();
      return local;
    }
    grpc::Status st = reader->Finish();
    if (!st.ok()) return absl::InternalError("FetchArtifact: " + st.error_message());
    if (have != a.size()) return absl::DataLossError(absl::StrCat("got ", have, " bytes"));
    stream = SecondsSince(t0);
    return Commit(fd, hasher, part, dest, a);
  }();
  return Finish(t0, stream, s);
}

Sample RunCli(const CommonFlags& flags, const std::string& address, const std::string& build_id,
              const v1::Artifact& a, const fs::path& out_dir) {
  auto t0 = Clock::now();
  double elapsed = 0;  // to the process's exit; the digest check after it is not timed
  absl::Status s = [&]() -> absl::Status {
    sfactory::SubprocessOptions o;
    o.argv = {flags.sfactory.string(), "--address", address, "fetch", build_id, "-o",
              out_dir.string(),        "--name",    a.name()};
    o.env = sfactory::ScrubbedEnv();
    SF_ASSIGN_OR_RETURN(sfactory::Subprocess p, sfactory::Subprocess::Start(o));
    for (int i = 0; i < 60000; ++i) {  // 10 minutes
      SF_ASSIGN_OR_RETURN(std::optional<int> rc, p.TryWait());
      if (rc) {
        elapsed = SecondsSince(t0);
        if (*rc != 0) return absl::InternalError(absl::StrCat("sfactory fetch exited ", *rc));
        SF_ASSIGN_OR_RETURN(std::string digest, sfactory::Sha256File(out_dir / a.name()));
        if (digest != a.sha256()) return absl::DataLossError("sfactory fetch wrote a wrong file");
        return absl::OkStatus();
      }
      ::usleep(1000);
    }
    return absl::DeadlineExceededError("sfactory fetch took over 10 minutes");
  }();
  Sample out = Finish(t0, 0, s);
  out.total = elapsed;
  return out;
}

// Samples the daemon's VmRSS every 20 ms while alive.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid) : pid_(pid) {
    reset_ok_ = ResetPeakRss(pid);
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        if (auto kb = ProcStatus(pid_, "VmRSS")) {
          max_kb_ = std::max(max_kb_, *kb);
          ++samples_;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  void Stop() {
    stop_ = true;
    thread_.join();
    hwm_kb_ = ProcStatus(pid_, "VmHWM").value_or(0);
  }
  uint64_t max_kb() const { return max_kb_; }
  uint64_t hwm_kb() const { return hwm_kb_; }
  int samples() const { return samples_; }
  bool reset_ok() const { return reset_ok_; }

 private:
  pid_t pid_;
  bool reset_ok_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  uint64_t max_kb_ = 0;
  uint64_t hwm_kb_ = 0;
  int samples_ = 0;
};

std::string Stats(const char* name, std::vector<double> totals, uint64_t bytes) {
  std::vector<double> t = totals;
  double best = *std::min_element(t.begin(), t.end());
  double med = Median(t);
  return absl::StrFormat("%-9s best %7.3f s (%7.1f MB/s)   median %7.3f s (%7.1f MB/s)", name, best,
                         bytes / 1e6 / best, med, bytes / 1e6 / med);
}

int Main(int argc, char** argv) {
  int runs = 3;
  bool cli = true;
  CommonFlags flags = ParseFlags(argc, argv, kUsage, [&](const std::string& a, const char* next) {
    if (a == "--runs" && next) {
      runs = std::clamp(std::atoi(next), 1, 20);
      return 2;
    }
    if (a == "--no-cli") {
      cli = false;
      return 1;
    }
    return 0;
  });
  if (flags.sfactory.empty()) cli = false;

  std::printf("fetch_bench: %s\n", MachineDescription().c_str());
  auto daemon_or = Daemon::StartWithHelloSource(flags, "fetch");
  if (!daemon_or.ok()) {
    std::fprintf(stderr, "fetch_bench: %s\n", daemon_or.status().ToString().c_str());
    return 1;
  }
  Daemon& d = **daemon_or;
  auto fail = [&](const std::string& why) { return d.Fail("fetch_bench", why); };

  v1::SubmitBuildRequest req;
  req.mutable_spec()->set_slurm_version("24.11");
  req.mutable_spec()->set_recipe("hello");
  req.mutable_spec()->add_variants("big");
  req.set_no_verify(true);
  auto tb = Clock::now();
  auto built = d.SubmitAndWait(req, absl::Minutes(20));
  if (!built.ok()) return fail(built.status().ToString());
  if (built->state() != v1::BUILD_STATE_SUCCEEDED) {
    return fail(absl::StrCat("build ", built->id(), " ended ", v1::BuildState_Name(built->state()),
                             ": ", built->error()));
  }
  std::printf("build     %s (hello, variant big, no verify) succeeded in %.1f s\n",
              built->id().c_str(), SecondsSince(tb));
  const v1::Artifact* art = nullptr;
  for (const auto& a : built->artifacts()) {
    if (a.kind() == "software") art = &a;
  }
  if (!art) return fail("the build has no software artifact");
  const v1::Artifact a = *art;
  const fs::path stored = d.state_dir() / "artifacts" / "sha256" / a.sha256();
  std::error_code ec;
  if (fs::file_size(stored, ec) != a.size())
    return fail("stored artifact size differs: " + stored.string());
  std::printf("artifact  %s, %.1f MiB, stored at <state>/artifacts/sha256/%.12s...\n",
              a.name().c_str(), a.size() / 1048576.0, a.sha256().c_str());

  const fs::path out_dir = d.dir() / "out";
  if (auto s = sfactory::MakeDirs(out_dir); !s.ok()) return fail(s.ToString());
  if (auto free = sfactory::FreeBytes(out_dir); !free.ok() || *free < 3 * a.size()) {
    return fail("not enough free space for the output copies");
  }
  // Warm the page cache so both sides read the stored file from memory.
  if (auto warm = sfactory::Sha256File(stored); !warm.ok() || *warm != a.sha256()) {
    return fail("the stored artifact does not match its digest");
  }
  uint64_t idle_rss = ProcStatus(d.pid(), "VmRSS").value_or(0);
  uint64_t hwm_before = ProcStatus(d.pid(), "VmHWM").value_or(0);
  std::printf("daemon    pid %d, idle VmRSS %.1f MiB, VmHWM so far %.1f MiB (includes the build)\n",
              d.pid(), idle_rss / 1024.0, hwm_before / 1024.0);

  std::vector<double> base_total, base_stream, grpc_total, grpc_stream, cli_total;
  uint64_t rss_max_kb = 0, hwm_max_kb = 0;
  bool reset_ok = true;
  int samples = 0;
  auto check = [&](const char* what, const Sample& s) {
    if (!s.ok) {
      std::fprintf(stderr, "fetch_bench: FAIL: %s: %s\n", what, s.error.c_str());
      return false;
    }
    std::error_code e;
    fs::remove(out_dir / a.name(), e);
    return true;
  };
  std::printf(
      "\nrun  order             baseline    grpc       cli      (seconds, open to durable "
      "rename)\n");
  for (int run = 0; run < runs; ++run) {
    std::vector<std::string> order = {"baseline", "grpc"};
    if (cli) order.push_back("cli");
    if (run % 2 == 1) std::reverse(order.begin(), order.end());
    double tb_s = 0, tg_s = 0, tc_s = 0;
    for (const auto& who : order) {
      if (who == "baseline") {
        Sample s = RunBaseline(stored, a, out_dir);
        if (!check("baseline", s)) return fail("baseline copy failed");
        base_total.push_back(s.total);
        base_stream.push_back(s.stream);
        tb_s = s.total;
        continue;
      }
      RssSampler sampler(d.pid());
      Sample s = who == "grpc" ? RunGrpc(d.address(), built->id(), a, out_dir)
                               : RunCli(flags, d.address(), built->id(), a, out_dir);
      sampler.Stop();
      if (!check(who.c_str(), s)) return fail(who + " fetch failed");
      rss_max_kb = std::max(rss_max_kb, sampler.max_kb());
      hwm_max_kb = std::max(hwm_max_kb, sampler.hwm_kb());
      reset_ok = reset_ok && sampler.reset_ok();
      samples += sampler.samples();
      if (who == "grpc") {
        grpc_total.push_back(s.total);
        grpc_stream.push_back(s.stream);
        tg_s = s.total;
      } else {
        cli_total.push_back(s.total);
        tc_s = s.total;
      }
    }
    std::string ord;
    for (const auto& o : order) absl::StrAppend(&ord, ord.empty() ? "" : ",", o);
    std::printf("%3d  %-17s %7.3f   %7.3f   %7.3f\n", run + 1, ord.c_str(), tb_s, tg_s, tc_s);
  }

  const uint64_t bytes = a.size();
  std::printf("\n%s\n%s\n", Stats("baseline", base_total, bytes).c_str(),
              Stats("grpc", grpc_total, bytes).c_str());
  if (cli) std::printf("%s\n", Stats("cli", cli_total, bytes).c_str());
  double best_b = *std::min_element(base_total.begin(), base_total.end());
  double best_g = *std::min_element(grpc_total.begin(), grpc_total.end());
  double ratio_best = best_b / best_g;
  double ratio_med = Median(base_total) / Median(grpc_total);
  double sratio_best = *std::min_element(base_stream.begin(), base_stream.end()) /
                       *std::min_element(grpc_stream.begin(), grpc_stream.end());
  std::printf(
      "streaming only (to the last byte written, before fsync): baseline best %.3f s, "
      "grpc best %.3f s\n",
      *std::min_element(base_stream.begin(), base_stream.end()),
      *std::min_element(grpc_stream.begin(), grpc_stream.end()));
  std::printf("\nSUMMARY fetch_bench (%.0f MiB artifact, %d runs)\n", bytes / 1048576.0, runs);
  std::printf(
      "  throughput ratio grpc/baseline: best %.2f, median %.2f (streaming part only: %.2f)"
      "  target >= 0.50  %s\n",
      ratio_best, ratio_med, sratio_best, Verdict(ratio_med >= 0.5));
  if (cli) {
    std::printf("  sfactory fetch (CLI) / baseline: best %.2f, median %.2f  (informational)\n",
                best_b / *std::min_element(cli_total.begin(), cli_total.end()),
                Median(base_total) / Median(cli_total));
  }
  std::printf(
      "  daemon RSS during fetches: max sampled VmRSS %.1f MiB (%d samples, 20 ms), "
      "VmHWM %.1f MiB%s, idle %.1f MiB  target < 100 MiB  %s\n",
      rss_max_kb / 1024.0, samples, hwm_max_kb / 1024.0,
      reset_ok ? " (reset before each fetch)" : " (could not reset: lifetime peak)",
      idle_rss / 1024.0, Verdict(std::max(rss_max_kb, reset_ok ? hwm_max_kb : 0) < 100 * 1024));
  std::printf("  correctness: every copy matched sha256 %s  PASS\n", a.sha256().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
