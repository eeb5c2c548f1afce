#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "daemon/store/sqlite.h"
#include "daemon/store/store.h"

namespace sfactory::store {
namespace {

using google::protobuf::util::MessageDifferencer;

google::protobuf::Timestamp Ts(int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(nanos);
  return ts;
}

BuildRecord MakeBuild(const std::string& id, v1::BuildState state = v1::BUILD_STATE_QUEUED,
                      const std::string& digest = "d0", const std::string& owner = "alice",
                      const std::string& version = "24.11.5") {
  BuildRecord record;
  record.build.set_id(id);
  record.build.set_state(state);
  record.build.set_digest(digest);
  record.build.set_owner(owner);
  record.build.mutable_spec()->set_slurm_version(version);
  *record.build.mutable_created_at() = Ts(1700000000);
  return record;
}

struct Fixture {
  Fixture() {
    auto created = TempDir::Create("sf-store-");
    REQUIRE(created.ok());
    dir = std::make_unique<TempDir>(std::move(*created));
    path = dir->path() / "state.db";
  }
  std::unique_ptr<Store> Open() {
    auto store = Store::Open(path);
    INFO(store.status().ToString());
    REQUIRE(store.ok());
    return std::move(*store);
  }
  std::unique_ptr<TempDir> dir;
  std::filesystem::path path;
};

std::vector<std::string> Ids(const std::vector<v1::Build>& builds) {
  std::vector<std::string> ids;
  for (const auto& b : builds) ids.push_back(b.id());
  return ids;
}

std::vector<std::string> Ids(const std::vector<BuildRecord>& records) {
  std::vector<std::string> ids;
  for (const auto& r : records) ids.push_back(r.build.id());
  return ids;
}

// Runs raw SQL against the file, as another program would.
void RawExec(const std::filesystem::path& path, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

TEST_CASE("Store round-trips every field of a build", "[store]") {
  Fixture f;
  auto store = f.Open();
  BuildRecord in;
  v1::Build& b = in.build;
  b.set_id("b1");
  b.mutable_spec()->set_slurm_version("24.11.5");
  b.mutable_spec()->set_recipe("native");
  b.mutable_spec()->add_variants("gpu");
  b.mutable_spec()->add_variants("minimal");
  b.mutable_spec()->set_os("debian-12");
  b.mutable_spec()->set_arch("x86_64");
  b.set_requested_version("24.11");
  b.set_digest("abc123");
  b.set_state(v1::BUILD_STATE_QUEUED);
  b.set_priority(-7);
  b.set_owner("alice");
  b.set_request_id("req-1");
  *b.mutable_created_at() = Ts(1700000000, 123456789);
  *b.mutable_started_at() = Ts(1700000010, 1);
  *b.mutable_finished_at() = Ts(1700000020, 999999999);
  b.set_attempt(2);
  b.set_error("none yet");
  auto* a1 = b.add_artifacts();
  a1->set_name("slurm-software.tar.zst");
  a1->set_sha256("aa11");
  a1->set_size(uint64_t{1} << 40);
  a1->set_kind("software");
  auto* a2 = b.add_artifacts();
  a2->set_name("SHA256SUMS");
  a2->set_sha256("bb22");
  a2->set_size(64);
  a2->set_kind("checksums");
  b.set_log_size(4096);
  b.set_current_phase("compile");
  b.set_verify(true);
  auto* p = b.add_phases();
  p->set_name("fetch");
  p->set_seconds(1.25);
  p->set_result("ok");
  b.set_provider("lxd");
  b.set_queue_position(3);
  in.keep_instance_on_failure = true;

  REQUIRE(store->InsertBuild(&in).ok());
  CHECK(in.seq > 0);

  auto out = store->GetBuild("b1");
  REQUIRE(out.ok());
  CHECK(MessageDifferencer::Equals(out->build, in.build));
  CHECK(out->seq == in.seq);
  CHECK(out->keep_instance_on_failure);

  auto artifact = store->FindArtifactBySha256("bb22");
  REQUIRE(artifact.ok());
  REQUIRE(artifact->has_value());
  CHECK(MessageDifferencer::Equals(**artifact, *a2));
  CHECK(!store->FindArtifactBySha256("cc33")->has_value());

  auto events = store->ListEvents("b1");
  REQUIRE(events.ok());
  REQUIRE(events->size() == 1);
  CHECK((*events)[0].state == v1::BUILD_STATE_QUEUED);
  CHECK((*events)[0].message == "queued");
  CHECK((*events)[0].time == absl::FromUnixMicros(int64_t{1700000000} * 1000000 + 123456));
}

TEST_CASE("GetBuild and ListEvents of an unknown build are NotFound", "[store]") {
  Fixture f;
  auto store = f.Open();
  CHECK(store->GetBuild("nope").status().code() == absl::StatusCode::kNotFound);
  CHECK(store->ListEvents("nope").status().code() == absl::StatusCode::kNotFound);
  BuildRecord no_id;
  CHECK(store->InsertBuild(&no_id).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Store keeps a queued build across reopen", "[store]") {
  Fixture f;
  int64_t seq = 0;
  {
    auto store = f.Open();
    BuildRecord r = MakeBuild("b1");
    REQUIRE(store->InsertBuild(&r).ok());
    seq = r.seq;
  }
  auto store = f.Open();
  auto got = store->GetBuild("b1");
  REQUIRE(got.ok());
  CHECK(got->seq == seq);
  CHECK(got->build.state() == v1::BUILD_STATE_QUEUED);
  BuildRecord next = MakeBuild("b2");
  REQUIRE(store->InsertBuild(&next).ok());
  CHECK(next.seq > seq);
}

TEST_CASE("InsertBuilds stores a batch in order, or nothing of it", "[store]") {
  Fixture f;
  auto store = f.Open();
  BuildRecord a = MakeBuild("ba"), b = MakeBuild("bb"), c = MakeBuild("bc");
  REQUIRE(store->InsertBuilds({&a, &b, &c}).ok());
  CHECK(a.seq < b.seq);
  CHECK(b.seq < c.seq);
  for (const char* id : {"ba", "bb", "bc"}) {
    auto events = store->ListEvents(id);
    REQUIRE(events.ok());
    CHECK(events->size() == 1);
  }

  // The third of this batch reuses an id: the first two are not kept.
  BuildRecord d = MakeBuild("bd"), e = MakeBuild("be"), dup = MakeBuild("bb");
  absl::Status s = store->InsertBuilds({&d, &e, &dup});
  CHECK(s.code() == absl::StatusCode::kAlreadyExists);
  CHECK(store->GetBuild("bd").status().code() == absl::StatusCode::kNotFound);
  CHECK(store->GetBuild("be").status().code() == absl::StatusCode::kNotFound);
  auto unfinished = store->LoadUnfinished();
  REQUIRE(unfinished.ok());
  CHECK(Ids(*unfinished) == std::vector<std::string>{"ba", "bb", "bc"});
}

TEST_CASE("Store keeps committed builds when the process exits without closing", "[store]") {
  Fixture f;
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto store = Store::Open(f.path);
    if (!store.ok()) _exit(2);
    for (int i = 0; i < 20; ++i) {
      BuildRecord r = MakeBuild(absl::StrCat("b", i));
      if (!(*store)->InsertBuild(&r).ok()) _exit(3);
    }
    _exit(0);  // no destructor: the connection is never closed
  }
  int wstatus = 0;
  REQUIRE(waitpid(pid, &wstatus, 0) == pid);
  REQUIRE(WIFEXITED(wstatus));
  REQUIRE(WEXITSTATUS(wstatus) == 0);

  auto store = f.Open();
  auto unfinished = store->LoadUnfinished();
  REQUIRE(unfinished.ok());
  REQUIRE(unfinished->size() == 20);
  for (int i = 0; i < 20; ++i) CHECK((*unfinished)[i].build.id() == absl::StrCat("b", i));
}

TEST_CASE("Store keeps every acknowledged build when killed mid-insert", "[store]") {
  Fixture f;
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    auto store = Store::Open(f.path);
    if (!store.ok()) _exit(2);
    for (int i = 0;; ++i) {
      BuildRecord r = MakeBuild(absl::StrCat("b", i));
      if (!(*store)->InsertBuild(&r).ok()) _exit(3);
      if (write(fds[1], "x", 1) != 1) _exit(4);
    }
  }
  close(fds[1]);
  int acknowledged = 0;
  char c;
  while (acknowledged < 50 && read(fds[0], &c, 1) == 1) ++acknowledged;
  kill(pid, SIGKILL);
  int wstatus = 0;
  REQUIRE(waitpid(pid, &wstatus, 0) == pid);
  close(fds[0]);
  REQUIRE(acknowledged == 50);

  auto store = f.Open();
  auto unfinished = store->LoadUnfinished();
  REQUIRE(unfinished.ok());
  REQUIRE(unfinished->size() >= 50);
  for (size_t i = 0; i < unfinished->size(); ++i) {
    CHECK((*unfinished)[i].build.id() == absl::StrCat("b", i));
    if (i > 0) CHECK((*unfinished)[i].seq > (*unfinished)[i - 1].seq);
  }
  BuildRecord more = MakeBuild("after");
  REQUIRE(store->InsertBuild(&more).ok());
  CHECK(more.seq > unfinished->back().seq);
}

TEST_CASE("InsertBuild rejects a taken id and a request_id reused by the same owner",
          "[store]") {
  Fixture f;
  auto store = f.Open();
  BuildRecord a = MakeBuild("a", v1::BUILD_STATE_QUEUED, "d", "alice");
  a.build.set_request_id("r1");
  REQUIRE(store->InsertBuild(&a).ok());

  BuildRecord same_id = MakeBuild("a");
  CHECK(store->InsertBuild(&same_id).code() == absl::StatusCode::kAlreadyExists);
  CHECK(same_id.seq == 0);

  BuildRecord same_request = MakeBuild("b", v1::BUILD_STATE_QUEUED, "d", "alice");
  same_request.build.set_request_id("r1");
  absl::Status status = store->InsertBuild(&same_request);
  CHECK(status.code() == absl::StatusCode::kAlreadyExists);
  CHECK(status.message().find("r1") != absl::string_view::npos);

  BuildRecord other_owner = MakeBuild("c", v1::BUILD_STATE_QUEUED, "d", "bob");
  other_owner.build.set_request_id("r1");
  CHECK(store->InsertBuild(&other_owner).ok());

  BuildRecord no_request_1 = MakeBuild("d1");
  BuildRecord no_request_2 = MakeBuild("d2");
  CHECK(store->InsertBuild(&no_request_1).ok());
  CHECK(store->InsertBuild(&no_request_2).ok());

  auto found = store->FindByRequestId("alice", "r1");
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->build.id() == "a");
  CHECK((*store->FindByRequestId("bob", "r1"))->build.id() == "c");
  CHECK(!store->FindByRequestId("carol", "r1")->has_value());
  CHECK(!store->FindByRequestId("alice", "")->has_value());
  // The failed inserts left no trace.
  CHECK(store->ListEvents("b").status().code() == absl::StatusCode::kNotFound);
  CHECK(store->ListEvents("a")->size() == 1);
}

TEST_CASE("FindActiveByDigest returns the oldest queued or running build", "[store]") {
  Fixture f;
  auto store = f.Open();
  BuildRecord done = MakeBuild("done", v1::BUILD_STATE_SUCCEEDED, "d1");
  BuildRecord running = MakeBuild("running", v1::BUILD_STATE_RUNNING, "d1");
  BuildRecord queued = MakeBuild("queued", v1::BUILD_STATE_QUEUED, "d1");
  BuildRecord other = MakeBuild("other", v1::BUILD_STATE_QUEUED, "d2");
  for (auto* r : {&done, &running, &queued, &other}) REQUIRE(store->InsertBuild(r).ok());

  CHECK((*store->FindActiveByDigest("d1"))->build.id() == "running");
  CHECK((*store->FindActiveByDigest("d2"))->build.id() == "other");
  CHECK(!store->FindActiveByDigest("d3")->has_value());

  running.build.set_state(v1::BUILD_STATE_FAILED);
  REQUIRE(store->UpdateBuild(running, "boom").ok());
  CHECK((*store->FindActiveByDigest("d1"))->build.id() == "queued");
}

TEST_CASE("FindSucceededByDigest returns the newest success, verified when asked",
          "[store]") {
  Fixture f;
  auto store = f.Open();
  BuildRecord verified = MakeBuild("verified", v1::BUILD_STATE_SUCCEEDED, "d");
  verified.build.set_verify(true);
  BuildRecord unverified = MakeBuild("unverified", v1::BUILD_STATE_SUCCEEDED, "d");
  BuildRecord failed = MakeBuild("failed", v1::BUILD_STATE_FAILED, "d");
  failed.build.set_verify(true);
  for (auto* r : {&verified, &unverified, &failed}) REQUIRE(store->InsertBuild(r).ok());

  CHECK((*store->FindSucceededByDigest("d", false))->build.id() == "unverified");
  CHECK((*store->FindSucceededByDigest("d", true))->build.id() == "verified");
  CHECK(!store->FindSucceededByDigest("x", false)->has_value());

  BuildRecord only_unverified = MakeBuild("u2", v1::BUILD_STATE_SUCCEEDED, "e");
  REQUIRE(store->InsertBuild(&only_unverified).ok());
  CHECK(!store->FindSucceededByDigest("e", true)->has_value());
}

TEST_CASE("UpdateBuild appends an event only when the state changes", "[store]") {
  Fixture f;
  auto store = f.Open();
  BuildRecord r = MakeBuild("b");
  REQUIRE(store->InsertBuild(&r).ok());

  r.build.set_log_size(100);
  REQUIRE(store->UpdateBuild(r, "ignored").ok());
  r.build.set_state(v1::BUILD_STATE_RUNNING);
  r.build.set_current_phase("fetch");
  REQUIRE(store->UpdateBuild(r, "started").ok());
  r.build.set_current_phase("compile");
  REQUIRE(store->UpdateBuild(r).ok());
  r.build.set_state(v1::BUILD_STATE_SUCCEEDED);
  auto* art = r.build.add_artifacts();
  art->set_name("x.tar.zst");
  art->set_sha256("s1");
  art->set_size(10);
  art->set_kind("software");
  REQUIRE(store->UpdateBuild(r, "done").ok());

  auto events = store->ListEvents("b");
  REQUIRE(events.ok());
  REQUIRE(events->size() == 3);
  CHECK((*events)[0].state == v1::BUILD_STATE_QUEUED);
  CHECK((*events)[1].state == v1::BUILD_STATE_RUNNING);
  CHECK((*events)[1].message == "started");
  CHECK((*events)[2].state == v1::BUILD_STATE_SUCCEEDED);
  CHECK((*events)[2].message == "done");
  CHECK((*events)[1].time <= (*events)[2].time);

  auto got = store->GetBuild("b");
  REQUIRE(got.ok());
  CHECK(MessageDifferencer::Equals(got->build, r.build));
  CHECK(got->seq == r.seq);
  CHECK(store->FindArtifactBySha256("s1")->has_value());

  // Artifacts are replaced, not accumulated.
  r.build.mutable_artifacts(0)->set_sha256("s2");
  REQUIRE(store->UpdateBuild(r).ok());
  CHECK(!store->FindArtifactBySha256("s1")->has_value());
  CHECK(store->FindArtifactBySha256("s2")->has_value());

  BuildRecord missing = MakeBuild("missing");
  CHECK(store->UpdateBuild(missing).code() == absl::StatusCode::kNotFound);
}

TEST_CASE("ListBuilds filters by state, owner and version prefix, newest first", "[store]") {
  Fixture f;
  auto store = f.Open();
  std::vector<BuildRecord> builds = {
      MakeBuild("q-alice-2411", v1::BUILD_STATE_QUEUED, "d", "alice", "24.11.5"),
      MakeBuild("r-bob-2405", v1::BUILD_STATE_RUNNING, "d", "bob", "24.05.8"),
      MakeBuild("s-alice-2405", v1::BUILD_STATE_SUCCEEDED, "d", "alice", "24.05.1"),
      MakeBuild("f-bob-2411", v1::BUILD_STATE_FAILED, "d", "bob", "24.11.1"),
      MakeBuild("c-alice-2311", v1::BUILD_STATE_CANCELLED, "d", "alice", "23.11.10"),
  };
  for (auto& b : builds) REQUIRE(store->InsertBuild(&b).ok());

  auto list = [&](ListFilter filter) {
    auto result = store->ListBuilds(filter);
    INFO(result.status().ToString());
    REQUIRE(result.ok());
    CHECK(result->next_page_token.empty());
    return Ids(result->builds);
  };
  using V = std::vector<std::string>;
  CHECK(list({}) ==
        V{"c-alice-2311", "f-bob-2411", "s-alice-2405", "r-bob-2405", "q-alice-2411"});
  CHECK(list({.states = {v1::BUILD_STATE_QUEUED, v1::BUILD_STATE_RUNNING}}) ==
        V{"r-bob-2405", "q-alice-2411"});
  CHECK(list({.owner = "alice"}) == V{"c-alice-2311", "s-alice-2405", "q-alice-2411"});
  CHECK(list({.version_prefix = "24.11"}) == V{"f-bob-2411", "q-alice-2411"});
  CHECK(list({.version_prefix = "24.05.8"}) == V{"r-bob-2405"});
  CHECK(list({.version_prefix = "24.05.8.1"}).empty());
  CHECK(list({.version_prefix = "%"}).empty());
  CHECK(list({.states = {v1::BUILD_STATE_SUCCEEDED, v1::BUILD_STATE_QUEUED},
              .owner = "alice",
              .version_prefix = "24.05"}) == V{"s-alice-2405"});
  CHECK(list({.owner = "nobody"}).empty());

  ListFilter bad_state;
  bad_state.states = {static_cast<v1::BuildState>(42)};
  CHECK(store->ListBuilds(bad_state).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("ListBuilds pages through every build exactly once", "[store]") {
  Fixture f;
  auto store = f.Open();
  std::vector<std::string> all;
  for (int i = 0; i < 23; ++i) {
    auto state = i % 3 == 0 ? v1::BUILD_STATE_FAILED : v1::BUILD_STATE_QUEUED;
    BuildRecord r = MakeBuild(absl::StrCat("b", i), state);
    REQUIRE(store->InsertBuild(&r).ok());
    all.insert(all.begin(), r.build.id());
  }

  auto collect = [&](ListFilter filter, int* pages) {
    std::vector<std::string> seen;
    *pages = 0;
    do {
      auto result = store->ListBuilds(filter);
      REQUIRE(result.ok());
      int max = filter.page_size == 0 ? 50 : std::clamp(filter.page_size, 1, 1000);
      REQUIRE(result->builds.size() <= static_cast<size_t>(max));
      for (auto& id : Ids(result->builds)) seen.push_back(id);
      filter.page_token = result->next_page_token;
      ++*pages;
    } while (!filter.page_token.empty());
    return seen;
  };

  int pages = 0;
  CHECK(collect({.page_size = 5}, &pages) == all);
  CHECK(pages == 5);
  CHECK(collect({.page_size = 23}, &pages) == all);
  CHECK(pages == 1);
  CHECK(collect({.page_size = 0}, &pages) == all);  // default 50
  CHECK(pages == 1);
  CHECK(collect({.page_size = -3}, &pages) == all);  // clamped to 1
  CHECK(pages == 23);

  std::vector<std::string> queued;
  for (int i = 22; i >= 0; --i) {
    if (i % 3 != 0) queued.push_back(absl::StrCat("b", i));
  }
  CHECK(collect({.states = {v1::BUILD_STATE_QUEUED}, .page_size = 4}, &pages) == queued);

  for (const char* token : {"abc", "-1", "0", " 5", "5x", "99999999999999999999"}) {
    ListFilter filter;
    filter.page_token = token;
    INFO(token);
    CHECK(store->ListBuilds(filter).status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("LoadUnfinished returns queued and running builds in submission order", "[store]") {
  Fixture f;
  auto store = f.Open();
  std::vector<BuildRecord> builds = {
      MakeBuild("r1", v1::BUILD_STATE_RUNNING), MakeBuild("s1", v1::BUILD_STATE_SUCCEEDED),
      MakeBuild("q1", v1::BUILD_STATE_QUEUED),  MakeBuild("f1", v1::BUILD_STATE_FAILED),
      MakeBuild("q2", v1::BUILD_STATE_QUEUED),  MakeBuild("c1", v1::BUILD_STATE_CANCELLED),
      MakeBuild("r2", v1::BUILD_STATE_RUNNING),
  };
  for (auto& b : builds) REQUIRE(store->InsertBuild(&b).ok());
  auto unfinished = store->LoadUnfinished();
  REQUIRE(unfinished.ok());
  CHECK(Ids(*unfinished) == std::vector<std::string>{"r1", "q1", "q2", "r2"});
  CHECK((*unfinished)[0].seq < (*unfinished)[1].seq);
}

TEST_CASE("InsertBuild from 8 threads gives every build a distinct seq", "[store]") {
  Fixture f;
  auto store = f.Open();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::vector<std::vector<int64_t>> seqs(kThreads);
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int64_t last = 0;
      for (int i = 0; i < kPerThread; ++i) {
        BuildRecord r = MakeBuild(absl::StrCat("t", t, "-", i));
        r.build.set_request_id(absl::StrCat("req-", t, "-", i));
        if (!store->InsertBuild(&r).ok() || r.seq <= last) ++failures[t];
        last = r.seq;
        seqs[t].push_back(r.seq);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<int64_t> distinct;
  for (int t = 0; t < kThreads; ++t) {
    CHECK(failures[t] == 0);
    distinct.insert(seqs[t].begin(), seqs[t].end());
  }
  CHECK(distinct.size() == kThreads * kPerThread);
  CHECK(store->LoadUnfinished()->size() == kThreads * kPerThread);
}

TEST_CASE("Open refuses a file that is not a database and leaves it untouched", "[store]") {
  Fixture f;
  std::string garbage;
  for (int i = 0; i < 8192; ++i) garbage.push_back(static_cast<char>((i * 7919 + 13) % 251));
  REQUIRE(WriteFileAtomic(f.path, garbage).ok());

  auto store = Store::Open(f.path);
  REQUIRE(!store.ok());
  INFO(store.status().ToString());
  CHECK((store.status().code() == absl::StatusCode::kFailedPrecondition ||
         store.status().code() == absl::StatusCode::kDataLoss));
  CHECK(store.status().message().find(f.path.string()) != absl::string_view::npos);
  CHECK(*ReadFile(f.path) == garbage);
  CHECK(!std::filesystem::exists(f.path.string() + "-wal"));
}

TEST_CASE("Open refuses another program's SQLite database", "[store]") {
  Fixture f;
  RawExec(f.path, "CREATE TABLE t (x); INSERT INTO t VALUES (1);");
  auto store = Store::Open(f.path);
  INFO(store.status().ToString());
  CHECK(store.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(store.status().message().find(f.path.string()) != absl::string_view::npos);
}

TEST_CASE("Open refuses a database from a newer schema version", "[store]") {
  Fixture f;
  { f.Open(); }
  RawExec(f.path, "PRAGMA user_version = 999");
  auto store = Store::Open(f.path);
  INFO(store.status().ToString());
  CHECK(store.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(store.status().message().find("999") != absl::string_view::npos);
}

TEST_CASE("Open of a path in a missing directory fails", "[store]") {
  Fixture f;
  auto store = Store::Open(f.dir->path() / "missing" / "state.db");
  CHECK(!store.ok());
}

TEST_CASE("Attempts record their start and finish", "[store]") {
  Fixture f;
  auto store = f.Open();
  BuildRecord r = MakeBuild("b");
  REQUIRE(store->InsertBuild(&r).ok());
  absl::Time t0 = absl::FromUnixSeconds(1700000000);

  REQUIRE(store->StartAttempt("b", 1, t0).ok());
  REQUIRE(store->FinishAttempt("b", 1, t0 + absl::Seconds(5), "requeued").ok());
  REQUIRE(store->StartAttempt("b", 2, t0 + absl::Seconds(10)).ok());

  auto attempts = store->ListAttempts("b");
  REQUIRE(attempts.ok());
  REQUIRE(attempts->size() == 2);
  CHECK((*attempts)[0].attempt == 1);
  CHECK((*attempts)[0].started_at == t0);
  CHECK((*attempts)[0].finished_at == t0 + absl::Seconds(5));
  CHECK((*attempts)[0].result == "requeued");
  CHECK((*attempts)[1].attempt == 2);
  CHECK(!(*attempts)[1].finished_at.has_value());

  CHECK(store->StartAttempt("nope", 1, t0).code() == absl::StatusCode::kNotFound);
  CHECK(store->FinishAttempt("b", 7, t0, "ok").code() == absl::StatusCode::kNotFound);
  CHECK(store->ListAttempts("nope")->empty());
}

TEST_CASE("Sources are stored once by name and found by name or digest", "[store]") {
  Fixture f;
  auto store = f.Open();
  v1::Source a;
  a.set_name("slurm-24.11.5.tar.bz2");
  a.set_sha256("s1");
  a.set_size(1000);
  *a.mutable_added_at() = Ts(1700000000, 5000);
  v1::Source b;
  b.set_name("slurm-24.05.8.tar.bz2");
  b.set_sha256("s2");
  b.set_size(2000);
  REQUIRE(store->InsertSource(a).ok());
  REQUIRE(store->InsertSource(b).ok());

  auto listed = store->ListSources();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].name() == "slurm-24.05.8.tar.bz2");
  CHECK((*listed)[0].added_at().seconds() > 0);  // filled in when unset
  CHECK(MessageDifferencer::Equals((*listed)[1], a));

  // The same bytes again: accepted, nothing changes.
  REQUIRE(store->InsertSource(a).ok());
  // Other bytes under a stored name: refused, naming both digests.
  v1::Source other = a;
  other.set_sha256("s3");
  other.set_size(1234);
  absl::Status repoint = store->InsertSource(other);
  CHECK(repoint.code() == absl::StatusCode::kAlreadyExists);
  CHECK(absl::StrContains(repoint.message(), "s1"));
  CHECK(absl::StrContains(repoint.message(), "s3"));
  CHECK(store->ListSources()->size() == 2);
  auto by_name = store->FindSourceByName("slurm-24.11.5.tar.bz2");
  REQUIRE(by_name.ok());
  REQUIRE(by_name->has_value());
  CHECK(MessageDifferencer::Equals(**by_name, a));
  CHECK((*store->FindSourceBySha256("s2"))->name() == "slurm-24.05.8.tar.bz2");
  CHECK(!store->FindSourceBySha256("s3")->has_value());
  CHECK(!store->FindSourceByName("other")->has_value());

  v1::Source unnamed;
  CHECK(store->InsertSource(unnamed).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("SqliteError maps disk full, busy and corruption to distinct codes", "[store]") {
  absl::Status full = SqliteError(nullptr, SQLITE_FULL, "insert build b1");
  CHECK(full.code() == absl::StatusCode::kResourceExhausted);
  CHECK(full.message().find("insert build b1") != absl::string_view::npos);
  CHECK(full.message().find("disk full") != absl::string_view::npos);
  CHECK(SqliteError(nullptr, SQLITE_BUSY, "x").code() == absl::StatusCode::kUnavailable);
  CHECK(SqliteError(nullptr, SQLITE_CORRUPT, "x").code() == absl::StatusCode::kDataLoss);
  CHECK(SqliteError(nullptr, SQLITE_NOTADB, "x").code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(SqliteError(nullptr, SQLITE_CONSTRAINT_UNIQUE, "x").code() ==
        absl::StatusCode::kAlreadyExists);
}

TEST_CASE("InsertBuild is fast enough for bursts of submits", "[store][.bench]") {
  Fixture f;
  auto store = f.Open();
  constexpr int kCount = 2000;
  absl::Time start = absl::Now();
  for (int i = 0; i < kCount; ++i) {
    BuildRecord r = MakeBuild(absl::StrCat("b", i));
    r.build.set_request_id(absl::StrCat("r", i));
    REQUIRE(store->InsertBuild(&r).ok());
  }
  absl::Duration per = (absl::Now() - start) / kCount;
  WARN("InsertBuild: " << absl::FormatDuration(per) << " per call");
  CHECK(per < absl::Milliseconds(1));
}

}  // namespace
}  // namespace sfactory::store
