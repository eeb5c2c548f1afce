// submit_bench [--n N] [--reps R] [--keep] [--sfactoryd PATH] [--source-dir DIR]
//
// SubmitBuild latency through the real daemon, against a trivial RPC timed in
// the same run.
//
// Part A, queue paused (config queue_paused: true) and a generated catalog
// with 2R+1 series of N releases (90.01 .. 90.<2R+1>, each release building
// hello-1.0.tar.gz), so that every submit is a distinct spec with its own
// digest and creates a build. R times, in alternating order:
//   - N concurrent SubmitBuild calls from N threads over one shared channel
//     (one HTTP/2 connection);
//   - N concurrent calls from N threads with a channel each (private
//     subchannel pools: N connections, connected before the clock starts);
//   each round's builds are cancelled after it, so every round starts with
//   the same single queued build. Then N sequential calls (90.01.*): the
//   per-call cost, and how it grows with the queue.
//   Target: p99 of the concurrent rounds < 50 ms (median over the R reps).
// Part B, a fresh daemon with the queue running: one hello build succeeds,
// then N sequential and (R times) N concurrent resubmits of the same spec,
// each of which must come back SUBMIT_OUTCOME_REUSED with that build.
// Target: p50 < 10 ms (for the concurrent rounds, the median over the reps).
// Baselines: GetServerInfo and GetBuild, sequential and concurrent, in the
// same daemon; the report gives submit p50 / trivial p50.
// Part C, TLS + bearer token against the unix socket; see PartC.
// Exits 1 when an RPC fails or an outcome, id or digest is wrong.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <latch>
#include <mutex>
#include <set>
#include <thread>

#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_daemon.h"
#include "common/fs.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace {

namespace fs = std::filesystem;
namespace v1 = sfactory::v1;
using namespace sfactory::bench;  // NOLINT: a benchmark's main file

const char kUsage[] =
    "usage: submit_bench [--n N] [--reps R] [--keep] [--sfactoryd PATH] [--source-dir DIR]\n";

constexpr char kHelloSha[] = "c7d7e0dc1ce2c61dcdae47e8fb9b103b724ac2bc70b9c8b686d4f990c8687b83";

// Series 90.01 .. 90.<series_count>, n releases each.
std::string Catalog(int n, int series_count) {
  std::string out = "series:\n";
  for (int k = 1; k <= series_count; ++k) {
    const std::string series = absl::StrFormat("90.%02d", k);
    absl::StrAppend(&out, "  \"", series, "\":\n    pinned: \"", series, ".1\"\n    releases:\n");
    for (int i = 1; i <= n; ++i) {
      absl::StrAppend(&out, "      \"", series, ".", i, "\":\n        sources:\n",
                      "          - name: hello-1.0.tar.gz\n            sha256: ", kHelloSha,
                      "\n            top_dir: hello-1.0\n");
    }
  }
  return out;
}

// One timed call: returns an error text, or empty when the call and its
// result were right.
using Call = std::function<std::string(int index)>;

struct Round {
  std::string name;
  std::vector<double> ms;
  double wall_ms = 0;
  std::vector<std::string> errors;
};

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

Round Sequential(const std::string& name, int n, const Call& call) {
  Round r{name, {}, 0, {}};
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto a = Clock::now();
    std::string err = call(i);
    r.ms.push_back(Ms(a, Clock::now()));
    if (!err.empty()) r.errors.push_back(err);
  }
  r.wall_ms = Ms(t0, Clock::now());
  return r;
}

// n threads, released together by a latch; each times its own call.
Round Concurrent(const std::string& name, int n, const Call& call) {
  Round r{name, std::vector<double>(n), 0, {}};
  std::vector<std::string> errors(n);
  std::latch ready(n + 1);
  std::latch go(1);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ready.count_down();
      go.wait();
      auto a = Clock::now();
      errors[i] = call(i);
      r.ms[i] = Ms(a, Clock::now());
    });
  }
  ready.arrive_and_wait();
  auto t0 = Clock::now();
  go.count_down();
  for (auto& t : threads) t.join();
  r.wall_ms = Ms(t0, Clock::now());
  for (auto& e : errors) {
    if (!e.empty()) r.errors.push_back(e);
  }
  return r;
}

void Print(Round r) {
  auto& v = r.ms;
  double p50 = Percentile(v, 50), p90 = Percentile(v, 90), p99 = Percentile(v, 99),
         max = Percentile(v, 100);
  std::printf("  %-60s n=%-4zu p50 %7.2f  p90 %7.2f  p99 %7.2f  max %7.2f ms  (wall %.0f ms)\n",
              r.name.c_str(), v.size(), p50, p90, p99, max, r.wall_ms);
}

double P(Round r, double p) { return Percentile(r.ms, p); }

grpc::Status Submit(v1::BuildService::Stub& stub, const v1::SubmitBuildRequest& req,
                    v1::SubmitBuildResponse* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return stub.SubmitBuild(&ctx, req, resp);
}

v1::SubmitBuildRequest HelloRequest(const std::string& version,
                                    const std::vector<std::string>& variants) {
  v1::SubmitBuildRequest req;
  req.mutable_spec()->set_slurm_version(version);
  req.mutable_spec()->set_recipe("hello");
  for (const auto& v : variants) req.mutable_spec()->add_variants(v);
  return req;
}

Call InfoCall(v1::ServerInfoService::Stub& stub) {
  return [&stub](int) -> std::string {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::ServerInfo info;
    grpc::Status s = stub.GetServerInfo(&ctx, v1::GetServerInfoRequest(), &info);
    return s.ok() ? "" : "GetServerInfo: " + s.error_message();
  };
}

Call GetCall(v1::BuildService::Stub& stub, const std::string& id) {
  return [&stub, id](int) -> std::string {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::GetBuildRequest req;
    req.set_build_id(id);
    v1::Build b;
    grpc::Status s = stub.GetBuild(&ctx, req, &b);
    return s.ok() ? "" : "GetBuild: " + s.error_message();
  };
}

// Cancels every build in `ids` (queued ones leave the scheduler), so that
// the next round starts with the same queue length as this one did.
std::string CancelAll(v1::BuildService::Stub& stub, const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::CancelBuildRequest req;
    req.set_build_id(id);
    v1::Build b;
    grpc::Status s = stub.CancelBuild(&ctx, req, &b);
    if (!s.ok()) return "CancelBuild " + id + ": " + s.error_message();
  }
  return "";
}

// Part A. Returns false on a correctness failure.
bool PartA(const CommonFlags& flags, int n, int reps) {
  std::printf("\nPart A: distinct specs, queue paused, %d releases per series\n", n);
  auto tmp = sfactory::TempDir::Create("sf-bench-catalog-");
  if (!tmp.ok()) return false;
  const fs::path catalog = tmp->path() / "catalog.yaml";
  if (!sfactory::WriteFileAtomic(catalog, Catalog(n, 2 * reps + 1)).ok()) return false;
  auto d_or =
      Daemon::Start(flags, "submit-a", {"queue_paused: true", "catalog: " + catalog.string()});
  if (!d_or.ok()) {
    std::fprintf(stderr, "submit_bench: %s\n", d_or.status().ToString().c_str());
    return false;
  }
  Daemon& d = **d_or;
  auto& builds = d.builds();
  for (int i = 0; i < 20; ++i) (void)InfoCall(d.info())(i);  // warm up

  std::mutex mu;
  std::set<std::string> all_ids, digests;
  std::vector<std::string> round_ids;  // created in the current round
  std::vector<std::string> errors;
  auto created = [&](const std::string& version, const std::vector<std::string>& variants,
                     v1::BuildService::Stub& stub) -> std::string {
    v1::SubmitBuildResponse resp;
    grpc::Status s = Submit(stub, HelloRequest(version, variants), &resp);
    if (!s.ok()) return absl::StrCat("SubmitBuild ", version, ": ", s.error_message());
    if (resp.outcome() != v1::SUBMIT_OUTCOME_CREATED) {
      return absl::StrCat("SubmitBuild ", version, ": outcome ",
                          v1::SubmitOutcome_Name(resp.outcome()));
    }
    std::lock_guard<std::mutex> lock(mu);
    round_ids.push_back(resp.build().id());
    if (!all_ids.insert(resp.build().id()).second) return "duplicate build id " + resp.build().id();
    if (!digests.insert(resp.build().digest()).second) return "duplicate digest for " + version;
    return "";
  };
  // After each round: every build it created is queued, then cancelled.
  auto end_round = [&]() {
    grpc::ClientContext ctx;
    v1::ServerInfo info;
    if (!d.info().GetServerInfo(&ctx, v1::GetServerInfoRequest(), &info).ok() ||
        info.queued_builds() != static_cast<int>(round_ids.size()) + 1) {
      errors.push_back(absl::StrCat("the daemon reports ", info.queued_builds(),
                                    " queued builds, expected ", round_ids.size() + 1));
    }
    if (std::string e = CancelAll(builds, round_ids); !e.empty()) errors.push_back(e);
    round_ids.clear();
  };

  // One queued build (a spec no round uses) for GetBuild to look at.
  if (std::string e = created(absl::StrCat("90.01.", n), {"slow", "fail"}, builds); !e.empty()) {
    std::fprintf(stderr, "submit_bench: %s\n", e.c_str());
    return false;
  }
  const std::string probe = round_ids.front();
  round_ids.clear();

  std::vector<Round> rounds;
  rounds.push_back(Sequential("GetServerInfo, sequential", n, InfoCall(d.info())));
  rounds.push_back(Sequential("GetBuild (1 queued), sequential", n, GetCall(builds, probe)));
  rounds.push_back(Concurrent(absl::StrCat("GetServerInfo, ", n, " threads, shared channel"), n,
                              InfoCall(d.info())));
  rounds.push_back(Concurrent(absl::StrCat("GetBuild (1 queued), ", n, " threads, shared channel"),
                              n, GetCall(builds, probe)));
  // One channel and stub per thread, connected before the clock starts.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::BuildService::Stub>> stubs;
  for (int i = 0; i < n; ++i) {
    channels.push_back(MakeChannel(d.address(), true));
    if (!channels.back()->WaitForConnected(std::chrono::system_clock::now() +
                                           std::chrono::seconds(10))) {
      std::fprintf(stderr, "submit_bench: channel %d did not connect\n", i);
      return false;
    }
    stubs.push_back(v1::BuildService::NewStub(channels.back()));
  }
  // Each repetition runs both modes, in alternating order, on series of
  // their own (90.02 + 2r shared, 90.03 + 2r a channel each).
  std::vector<size_t> shared_idx, own_idx;
  for (int rep = 0; rep < reps; ++rep) {
    const std::string shared_series = absl::StrFormat("90.%02d.", 2 + 2 * rep);
    const std::string own_series = absl::StrFormat("90.%02d.", 3 + 2 * rep);
    for (int half = 0; half < 2; ++half) {
      if ((half == 0) == (rep % 2 == 0)) {
        rounds.push_back(Concurrent(
            absl::StrCat("SubmitBuild, ", n, " threads, shared channel (rep ", rep + 1, ")"), n,
            [&](int i) { return created(absl::StrCat(shared_series, i + 1), {}, builds); }));
        shared_idx.push_back(rounds.size() - 1);
      } else {
        rounds.push_back(Concurrent(
            absl::StrCat("SubmitBuild, ", n, " threads, a channel each (rep ", rep + 1, ")"), n,
            [&](int i) { return created(absl::StrCat(own_series, i + 1), {}, *stubs[i]); }));
        own_idx.push_back(rounds.size() - 1);
      }
      end_round();
    }
  }
  stubs.clear();
  channels.clear();
  rounds.push_back(Sequential("SubmitBuild, sequential", n, [&](int i) {
    return created(absl::StrCat("90.01.", i + 1), {}, builds);
  }));
  const size_t kSeq = rounds.size() - 1;
  // Left queued on purpose: how reads scale with the queue's length.
  rounds.push_back(Sequential(absl::StrCat("GetBuild (", n + 1, " queued), sequential"), n,
                              GetCall(builds, probe)));
  const size_t kGetLong = rounds.size() - 1;
  end_round();

  bool ok = errors.empty();
  for (const auto& r : rounds) Print(r);
  for (const auto& r : rounds) {
    for (const auto& e : r.errors) {
      std::fprintf(stderr, "  FAIL %s: %s\n", r.name.c_str(), e.c_str());
      ok = false;
    }
  }
  for (const auto& e : errors) std::fprintf(stderr, "  FAIL: %s\n", e.c_str());
  std::printf("  builds created: %zu distinct ids, %zu distinct digests (expected %d)\n",
              all_ids.size(), digests.size(), (2 * reps + 1) * n + 1);
  if (all_ids.size() != static_cast<size_t>((2 * reps + 1) * n + 1) ||
      digests.size() != all_ids.size()) {
    ok = false;
  }

  const Round& seq = rounds[kSeq];
  double base_get = P(rounds[1], 50), base_info = P(rounds[0], 50);
  // The verdict takes the median over the repetitions of each mode's p99.
  auto p99s = [&](const std::vector<size_t>& idx, std::string* list) {
    std::vector<double> v;
    for (size_t i : idx) {
      v.push_back(P(rounds[i], 99));
      absl::StrAppend(list, list->empty() ? "" : ", ", absl::StrFormat("%.1f", v.back()));
    }
    return Median(v);
  };
  std::string shared_list, own_list;
  const double shared_p99 = p99s(shared_idx, &shared_list), own_p99 = p99s(own_idx, &own_list);
  std::vector<double> shared_p50;
  for (size_t i : shared_idx) shared_p50.push_back(P(rounds[i], 50));
  std::printf(
      "\nSUMMARY submit_bench part A (distinct specs, queue paused, each round starting "
      "with 1 queued build)\n");
  std::printf(
      "  concurrent submit p99, shared channel: median %7.2f ms of %d reps (%s)  target < 50 ms  "
      "%s\n",
      shared_p99, reps, shared_list.c_str(), Verdict(shared_p99 < 50));
  std::printf(
      "  concurrent submit p99, channel each:   median %7.2f ms of %d reps (%s)  target < 50 ms  "
      "%s\n",
      own_p99, reps, own_list.c_str(), Verdict(own_p99 < 50));
  std::printf(
      "  concurrent submit p50 (shared channel, median of reps) %.2f ms = %.1f x concurrent "
      "GetBuild p50 (%.2f ms)\n",
      Median(shared_p50), Median(shared_p50) / P(rounds[3], 50), P(rounds[3], 50));
  std::printf(
      "  sequential submit p50 %.2f ms = %.1f x GetBuild p50 (%.2f ms) = %.1f x GetServerInfo "
      "p50 (%.2f ms)\n",
      P(seq, 50), P(seq, 50) / base_get, base_get, P(seq, 50) / base_info, base_info);
  {
    const size_t k = std::min<size_t>(20, seq.ms.size());
    std::vector<double> head(seq.ms.begin(), seq.ms.begin() + static_cast<long>(k));
    std::vector<double> tail(seq.ms.end() - static_cast<long>(k), seq.ms.end());
    std::printf(
        "  sequential submit p50 of the first %zu calls (queue <= %zu): %.2f ms; of the last "
        "%zu (queue >= %zu): %.2f ms\n",
        k, k + 1, Median(head), k, seq.ms.size() - k + 1, Median(tail));
  }
  std::printf(
      "  GetBuild of a queued build: p50 %.2f ms with 1 queued, %.2f ms with %d queued "
      "(x%.0f)\n",
      base_get, P(rounds[kGetLong], 50), n + 1, P(rounds[kGetLong], 50) / base_get);
  std::printf("  correctness (every submit CREATED a distinct build, all queued): %s\n",
              ok ? "PASS" : "FAIL");
  if (!ok) d.Keep();
  return ok;
}

// Part B. Returns false on a correctness failure.
bool PartB(const CommonFlags& flags, int n, int reps) {
  std::printf("\nPart B: resubmitting a finished spec, queue running\n");
  auto d_or = Daemon::StartWithHelloSource(flags, "submit-b");
  if (!d_or.ok()) {
    std::fprintf(stderr, "submit_bench: %s\n", d_or.status().ToString().c_str());
    return false;
  }
  Daemon& d = **d_or;
  const v1::SubmitBuildRequest req = HelloRequest("24.11", {});
  auto t0 = Clock::now();
  auto built = d.SubmitAndWait(req, absl::Minutes(10));
  if (!built.ok() || built->state() != v1::BUILD_STATE_SUCCEEDED) {
    d.Fail("submit_bench", absl::StrCat("the hello build did not succeed: ",
                                        built.ok() ? built->error() : built.status().ToString()));
    return false;
  }
  std::printf("  build %s (hello 24.11, verify %s, %d phases) succeeded in %.1f s\n",
              built->id().c_str(), built->verify() ? "on" : "off", built->phases_size(),
              SecondsSince(t0));
  const std::string id = built->id();
  auto& builds = d.builds();
  for (int i = 0; i < 20; ++i) (void)InfoCall(d.info())(i);  // warm up
  auto reused = [&](v1::BuildService::Stub& stub) -> std::string {
    v1::SubmitBuildResponse resp;
    grpc::Status s = Submit(stub, req, &resp);
    if (!s.ok()) return "SubmitBuild: " + s.error_message();
    if (resp.outcome() != v1::SUBMIT_OUTCOME_REUSED || resp.build().id() != id) {
      return absl::StrCat("outcome ", v1::SubmitOutcome_Name(resp.outcome()), " build ",
                          resp.build().id(), " (expected REUSED ", id, ")");
    }
    return "";
  };
  Round info_seq = Sequential("GetServerInfo, sequential", n, InfoCall(d.info()));
  Round get_seq = Sequential("GetBuild (the succeeded build), sequential", n, GetCall(builds, id));
  Round seq =
      Sequential("SubmitBuild -> REUSED, sequential", n, [&](int) { return reused(builds); });
  std::vector<Round> rounds = {info_seq, get_seq, seq};
  // Concurrent rounds R times, alternating GetBuild and resubmit first.
  std::vector<double> get_p50, con_p50, con_p99;
  for (int rep = 0; rep < reps; ++rep) {
    for (int half = 0; half < 2; ++half) {
      if ((half == 0) == (rep % 2 == 0)) {
        rounds.push_back(Concurrent(
            absl::StrCat("GetBuild, ", n, " threads, shared channel (rep ", rep + 1, ")"), n,
            GetCall(builds, id)));
        get_p50.push_back(P(rounds.back(), 50));
      } else {
        rounds.push_back(Concurrent(absl::StrCat("SubmitBuild -> REUSED, ", n,
                                                 " threads, shared channel (rep ", rep + 1, ")"),
                                    n, [&](int) { return reused(builds); }));
        con_p50.push_back(P(rounds.back(), 50));
        con_p99.push_back(P(rounds.back(), 99));
      }
    }
  }
  bool ok = true;
  for (const auto& r : rounds) Print(r);
  for (const auto& r : rounds) {
    for (const auto& e : r.errors) {
      std::fprintf(stderr, "  FAIL %s: %s\n", r.name.c_str(), e.c_str());
      ok = false;
    }
  }
  std::string list;
  for (double v : con_p50)
    absl::StrAppend(&list, list.empty() ? "" : ", ", absl::StrFormat("%.1f", v));
  const double con = Median(con_p50), get_con = Median(get_p50);
  std::printf("\nSUMMARY submit_bench part B (resubmit of a succeeded spec)\n");
  std::printf(
      "  sequential resubmit p50: %.2f ms  target < 10 ms  %s   (%.1f x GetBuild p50 %.2f ms,"
      " %.1f x GetServerInfo p50 %.2f ms)\n",
      P(seq, 50), Verdict(P(seq, 50) < 10), P(seq, 50) / P(get_seq, 50), P(get_seq, 50),
      P(seq, 50) / P(info_seq, 50), P(info_seq, 50));
  std::printf(
      "  concurrent resubmit p50: median %.2f ms of %d reps (%s)  target < 10 ms  %s   (p99 "
      "median %.2f ms; concurrent GetBuild p50 median %.2f ms, ratio %.1f)\n",
      con, reps, list.c_str(), Verdict(con < 10), Median(con_p99), get_con, con / get_con);
  std::printf("  correctness (every resubmit REUSED %s): %s\n", id.c_str(), ok ? "PASS" : "FAIL");
  if (!ok) d.Keep();
  return ok;
}

// Part C: the Part B resubmit over TLS with a bearer token against the same
// call over the unix socket (identity from SO_PEERCRED), same daemon,
// alternating per rep. Certificates are made with openssl. Target: TLS+token
// p50 <= 1.5 x unix p50. Returns false on a failure.
bool PartC(const CommonFlags& flags, int n, int reps) {
  std::printf("\nPart C: resubmit over TLS + bearer token vs the unix socket\n");
  auto pki_or = sfactory::TempDir::Create("sf-bench-pki-");
  if (!pki_or.ok()) return false;
  const std::string pki = pki_or->path().string();
  const std::string make_certs = absl::StrCat(
      "set -e; cd '", pki, "'; ",
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=bench-ca -keyout ca.key "
      "-out ca.pem; ",
      "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out s.csr; ",
      "echo subjectAltName=IP:127.0.0.1 > s.ext; ",
      "openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile s.ext -out server.pem");
  if (std::system(absl::StrCat("(", make_certs, ") > /dev/null 2>&1").c_str()) != 0) {
    std::fprintf(stderr, "submit_bench: openssl could not make certificates (is it installed?)\n");
    return false;
  }
  const int port = 20000 + static_cast<int>(::getpid() % 20000);
  const std::string tcp = absl::StrCat("127.0.0.1:", port);
  // The socket path Daemon::Start uses: <dir>/run/sfactoryd.sock. The dir is
  // only known after the start, so the listen line names it by placeholder.
  auto d_or = Daemon::StartWithHelloSource(
      flags, "submit-c",
      {absl::StrCat("listen: [unix:@SOCKET@, \"", tcp, "\"]"),
       absl::StrCat("tls: {cert_file: ", pki, "/server.pem, key_file: ", pki, "/server.key}")});
  if (!d_or.ok()) {
    std::fprintf(stderr, "submit_bench: %s\n", d_or.status().ToString().c_str());
    return false;
  }
  Daemon& d = **d_or;
  const v1::SubmitBuildRequest req = HelloRequest("24.11", {});
  auto built = d.SubmitAndWait(req, absl::Minutes(10));
  if (!built.ok() || built->state() != v1::BUILD_STATE_SUCCEEDED) {
    d.Fail("submit_bench", "the hello build did not succeed");
    return false;
  }
  // A token for user "bench", made by root over the socket.
  auto auth = v1::AuthService::NewStub(d.channel());
  v1::CreateTokenRequest treq;
  treq.set_name("bench");
  treq.set_user(std::string(::getenv("USER") ? ::getenv("USER") : "root"));
  v1::CreateTokenResponse token;
  {
    grpc::ClientContext ctx;
    grpc::Status s = auth->CreateToken(&ctx, treq, &token);
    if (!s.ok()) {
      d.Fail("submit_bench", "CreateToken: " + s.error_message());
      return false;
    }
  }
  auto ca = sfactory::ReadFile(pki + "/ca.pem");
  if (!ca.ok()) return false;
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = *ca;
  auto creds = grpc::CompositeChannelCredentials(grpc::SslCredentials(ssl),
                                                 grpc::AccessTokenCredentials(token.secret()));
  auto tls_channel = grpc::CreateChannel(tcp, creds);
  auto tls_builds = v1::BuildService::NewStub(tls_channel);
  // The token's user did not submit the build, but a REUSED answer is the
  // same for everyone: the finished build of that spec.
  auto reused = [&](v1::BuildService::Stub& stub) -> std::string {
    v1::SubmitBuildResponse resp;
    grpc::Status s = Submit(stub, req, &resp);
    if (!s.ok()) return "SubmitBuild: " + s.error_message();
    if (resp.outcome() != v1::SUBMIT_OUTCOME_REUSED || resp.build().id() != built->id()) {
      return "not REUSED";
    }
    return "";
  };
  for (int i = 0; i < 20; ++i) (void)reused(*tls_builds), (void)reused(d.builds());  // warm up
  std::vector<Round> rounds;
  std::vector<double> unix_p50, tls_p50;
  for (int rep = 0; rep < reps; ++rep) {
    for (int half = 0; half < 2; ++half) {
      const bool tls_now = (half == 0) == (rep % 2 == 0);
      rounds.push_back(Sequential(
          absl::StrCat("SubmitBuild -> REUSED, sequential, ", tls_now ? "TLS + token" : "unix",
                       " (rep ", rep + 1, ")"),
          n, [&](int) { return reused(tls_now ? *tls_builds : d.builds()); }));
      (tls_now ? tls_p50 : unix_p50).push_back(P(rounds.back(), 50));
    }
  }
  bool ok = true;
  for (const auto& r : rounds) {
    Print(r);
    for (const auto& e : r.errors) {
      std::fprintf(stderr, "  FAIL %s: %s\n", r.name.c_str(), e.c_str());
      ok = false;
    }
  }
  const double u = Median(unix_p50), t = Median(tls_p50);
  std::printf("\nSUMMARY submit_bench part C (authentication cost)\n");
  std::printf("  sequential resubmit p50: TLS + token %.2f ms, unix socket %.2f ms: ratio %.2f"
              "  target <= 1.5  %s\n",
              t, u, t / u, Verdict(t / u <= 1.5));
  std::printf("  correctness (every resubmit REUSED over both): %s\n", ok ? "PASS" : "FAIL");
  if (!ok) d.Keep();
  return ok;
}

int Main(int argc, char** argv) {
  int n = 200;
  int reps = 3;
  CommonFlags flags = ParseFlags(argc, argv, kUsage, [&](const std::string& a, const char* next) {
    if (a == "--n" && next) {
      n = std::clamp(std::atoi(next), 1, 999);
      return 2;
    }
    if (a == "--reps" && next) {
      reps = std::clamp(std::atoi(next), 1, 20);
      return 2;
    }
    return 0;
  });
  std::printf("submit_bench: %s\n", MachineDescription().c_str());
  bool a = PartA(flags, n, reps);
  bool b = PartB(flags, n, reps);
  bool c = PartC(flags, n, reps);
  return a && b && c ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
