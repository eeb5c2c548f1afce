#include "daemon/cache/source_cache.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "tests/fault_env.h"
#include "tests/test_dir.h"
#include "tests/unit/cache/test_http_server.h"

namespace sfactory::cache {
namespace {

namespace fs = std::filesystem;
using sfactory::testing::TestHttpServer;
using Files = std::map<std::string, std::string>;

using Scratch = ::sfactory::testing::ScratchDir;

const std::string kKnownContent = "the catalog's release tarball";
const std::string kKnownSha = Sha256Hex(kKnownContent);

// Returns the chunks in order, then the end.
ChunkReader Chunks(std::vector<std::string> chunks) {
  auto left = std::make_shared<std::vector<std::string>>(chunks.rbegin(), chunks.rend());
  return [left](std::string* chunk) -> absl::StatusOr<bool> {
    if (left->empty()) return false;
    *chunk = std::move(left->back());
    left->pop_back();
    return true;
  };
}

using ::sfactory::testing::CountEntries;

// Retries as the daemon's policy does, only quicker.
DownloadPolicy QuickRetries(uint64_t max_bytes = 0) {
  DownloadPolicy p;
  p.max_bytes = max_bytes;
  p.retry.initial_backoff = absl::Milliseconds(10);
  p.retry.max_backoff = absl::Milliseconds(40);
  return p;
}

struct Fixture {
  explicit Fixture(Env* env = Env::Default(), DownloadPolicy downloads = QuickRetries()) {
    // Requests to 127.0.0.1 must not go through a proxy from the environment.
    for (const char* v :
         {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
      ::unsetenv(v);
    }
    auto s = store::Store::Open(tmp.path() / "state.db");
    INFO(s.status().ToString());
    REQUIRE(s.ok());
    store = std::move(*s);
    auto c = Catalog::Parse(
        absl::StrCat("series:\n  \"24.11\":\n    pinned: \"24.11.5\"\n    releases:\n"
                     "      \"24.11.5\":\n        sources:\n"
                     "          - {name: known.tar.gz, sha256: ",
                     kKnownSha, "}\n"),
        "catalog.yaml");
    INFO(c.status().ToString());
    REQUIRE(c.ok());
    catalog = std::move(*c);
    cache = std::make_unique<SourceCache>(root(), store.get(), &catalog, env,
                                          &metrics::NullRecorder(), downloads);
    REQUIRE(cache->Init().ok());
  }
  fs::path root() const { return tmp.path() / "sources"; }
  int Stored() const { return CountEntries(root() / "sha256"); }
  int Temporary() const { return CountEntries(root() / "tmp"); }
  std::function<void(absl::string_view)> Log() {
    return [this](absl::string_view line) { log.emplace_back(line); };
  }
  std::string LogText() const { return absl::StrJoin(log, "\n"); }

  Scratch tmp;
  std::unique_ptr<store::Store> store;
  Catalog catalog;
  std::unique_ptr<SourceCache> cache;
  std::vector<std::string> log;
};

SourceFile Candidate(const std::string& name, const std::string& sha256 = "",
                     std::vector<std::string> urls = {}) {
  SourceFile f;
  f.name = name;
  f.sha256 = sha256;
  f.top_dir = "top";
  f.urls = std::move(urls);
  return f;
}

TEST_CASE("SourceCache Add stores the upload under sha256/<hex> and records it", "[cache]") {
  Fixture f;
  auto s = f.cache->Add("a.tar.gz", "", Chunks({"hello ", "", "world"}));
  INFO(s.status().ToString());
  REQUIRE(s.ok());
  const std::string sha = Sha256Hex("hello world");
  CHECK(s->name() == "a.tar.gz");
  CHECK(s->sha256() == sha);
  CHECK(s->size() == 11);
  CHECK(s->added_at().seconds() > 0);
  CHECK(*ReadFile(f.root() / "sha256" / sha) == "hello world");
  struct stat st;
  REQUIRE(::stat((f.root() / "sha256" / sha).c_str(), &st) == 0);
  CHECK((st.st_mode & 0222) == 0);  // read-only
  CHECK(f.Temporary() == 0);

  auto by_name = f.store->FindSourceByName("a.tar.gz");
  REQUIRE(by_name.ok());
  REQUIRE(by_name->has_value());
  CHECK((*by_name)->sha256() == sha);
  auto by_sha = f.store->FindSourceBySha256(sha);
  REQUIRE(by_sha.ok());
  REQUIRE(by_sha->has_value());
  CHECK((*by_sha)->name() == "a.tar.gz");
}

TEST_CASE("SourceCache Add accepts a matching expected sha256", "[cache]") {
  Fixture f;
  auto s = f.cache->Add("a.tar.gz", Sha256Hex("abc"), Chunks({"a", "bc"}));
  REQUIRE(s.ok());
  CHECK(f.Stored() == 1);
}

TEST_CASE("SourceCache Add with a wrong expected sha256 stores nothing", "[cache]") {
  Fixture f;
  auto s = f.cache->Add("a.tar.gz", Sha256Hex("something else"), Chunks({"hello"}));
  REQUIRE(!s.ok());
  CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(s.status().message(), "nothing was stored"));
  CHECK(absl::StrContains(s.status().message(), Sha256Hex("hello")));
  CHECK(f.Stored() == 0);
  CHECK(f.Temporary() == 0);
  auto rec = f.store->FindSourceByName("a.tar.gz");
  REQUIRE(rec.ok());
  CHECK(!rec->has_value());
}

TEST_CASE("SourceCache Add enforces the catalog's digest even when the uploader gives its own",
          "[cache]") {
  Fixture f;
  // The uploader's digest matches the bytes, but the catalog knows better.
  auto s = f.cache->Add("known.tar.gz", Sha256Hex("tampered"), Chunks({"tampered"}));
  REQUIRE(!s.ok());
  CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(s.status().message(), "the catalog expects"));
  CHECK(absl::StrContains(s.status().message(), kKnownSha));
  auto no_digest = f.cache->Add("known.tar.gz", "", Chunks({"tampered"}));
  CHECK(no_digest.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(f.Stored() == 0);
  CHECK(f.Temporary() == 0);

  auto good = f.cache->Add("known.tar.gz", "", Chunks({kKnownContent}));
  REQUIRE(good.ok());
  CHECK(good->sha256() == kKnownSha);
}

TEST_CASE("A reader error mid-upload leaves nothing behind", "[cache]") {
  Fixture f;
  int calls = 0;
  auto s = f.cache->Add("a.tar.gz", "", [&](std::string* chunk) -> absl::StatusOr<bool> {
    if (++calls <= 2) {
      *chunk = std::string(1000, 'x');
      return true;
    }
    return absl::UnavailableError("client went away");
  });
  REQUIRE(!s.ok());
  CHECK(s.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(s.status().message(), "client went away"));
  CHECK(f.Stored() == 0);
  CHECK(f.Temporary() == 0);
  auto rec = f.store->FindSourceByName("a.tar.gz");
  REQUIRE(rec.ok());
  CHECK(!rec->has_value());
}

TEST_CASE("SourceCache AddFile copies a host file in", "[cache]") {
  Fixture f;
  const fs::path file = f.tmp.path() / "upload.tar.gz";
  std::string big(3 << 20, 'y');  // more than one read
  big += "end";
  REQUIRE(WriteFileAtomic(file, big).ok());
  auto s = f.cache->AddFile(file, "upload.tar.gz");
  REQUIRE(s.ok());
  CHECK(s->sha256() == Sha256Hex(big));
  CHECK(s->size() == big.size());
  CHECK(fs::exists(file));  // copied, not moved
  CHECK(*ReadFile(f.root() / "sha256" / s->sha256()) == big);

  CHECK(f.cache->AddFile(f.tmp.path() / "missing", "m.tar.gz").status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE("SourceCache Init removes temporary files left by a crash", "[cache]") {
  Fixture f;
  REQUIRE(f.cache->Add("a.tar.gz", "", Chunks({"kept"})).ok());
  REQUIRE(WriteFileAtomic(f.root() / "tmp" / "123.0.part", "half").ok());
  SourceCache again(f.root(), f.store.get(), &f.catalog);
  REQUIRE(again.Init().ok());
  CHECK(f.Temporary() == 0);
  CHECK(f.Stored() == 1);
}

TEST_CASE("Ensure finds a cached source by sha256", "[cache]") {
  Fixture f;
  REQUIRE(f.cache->Add("known.tar.gz", "", Chunks({kKnownContent})).ok());
  auto r = f.cache->Ensure(
      {Candidate("other.tar.gz", Sha256Hex("not cached")), Candidate("known.tar.gz", kKnownSha)},
      false, f.Log());
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->file.name == "known.tar.gz");
  CHECK(r->file.top_dir == "top");
  CHECK(r->sha256 == kKnownSha);
  CHECK(r->relative_path == "sha256/" + kKnownSha);
  CHECK(r->path == f.root() / "sha256" / kKnownSha);
  CHECK(*ReadFile(r->path) == kKnownContent);
  CHECK(absl::StrContains(f.LogText(), "found in cache"));
}

TEST_CASE("Ensure finds a cached source by name when the candidate has no digest", "[cache]") {
  Fixture f;
  auto added = f.cache->Add("nodigest.tar.gz", "", Chunks({"first copy"}));
  REQUIRE(added.ok());
  auto r =
      f.cache->Ensure({Candidate("missing.tar.gz"), Candidate("nodigest.tar.gz")}, false, f.Log());
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->file.name == "nodigest.tar.gz");
  CHECK(r->sha256 == added->sha256());
  CHECK(r->path == f.root() / "sha256" / added->sha256());
  CHECK(absl::StrContains(f.LogText(), "trusted"));
}

TEST_CASE("Ensure does not trust a name whose cached file is gone", "[cache]") {
  Fixture f;
  auto added = f.cache->Add("nodigest.tar.gz", "", Chunks({"first copy"}));
  REQUIRE(added.ok());
  fs::remove(f.root() / "sha256" / added->sha256());
  auto r = f.cache->Ensure({Candidate("nodigest.tar.gz")}, false, f.Log());
  CHECK(r.status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("Ensure without downloads and nothing cached is NotFound saying how to seed it",
          "[cache]") {
  Fixture f;
  TestHttpServer server(Files{{"/known.tar.gz", kKnownContent}});
  auto r = f.cache->Ensure({Candidate("known.tar.gz", kKnownSha, {server.Url("/known.tar.gz")}),
                            Candidate("nodigest.tar.gz")},
                           false, f.Log());
  REQUIRE(!r.ok());
  CHECK(r.status().code() == absl::StatusCode::kNotFound);
  CHECK(absl::StrContains(r.status().message(), "sfactory sources add"));
  CHECK(absl::StrContains(r.status().message(), "known.tar.gz (sha256 " + kKnownSha + ")"));
  CHECK(absl::StrContains(r.status().message(), "nodigest.tar.gz"));
  CHECK(absl::StrContains(r.status().message(), "allow_downloads: false"));
  CHECK(server.requests().empty());
  CHECK(f.Stored() == 0);
}

TEST_CASE("Ensure with downloads on but no URL is NotFound", "[cache]") {
  Fixture f;
  auto r = f.cache->Ensure({Candidate("nodigest.tar.gz")}, true, f.Log());
  REQUIRE(!r.ok());
  CHECK(r.status().code() == absl::StatusCode::kNotFound);
  CHECK(absl::StrContains(r.status().message(), "no URL to download from"));
  CHECK(absl::StrContains(r.status().message(), "sfactory sources add"));
}

TEST_CASE("Ensure prefers a cached copy to a download", "[cache]") {
  Fixture f;
  TestHttpServer server(Files{{"/known.tar.gz", kKnownContent}});
  REQUIRE(f.cache->Add("nodigest.tar.gz", "", Chunks({"cached"})).ok());
  auto r = f.cache->Ensure({Candidate("known.tar.gz", kKnownSha, {server.Url("/known.tar.gz")}),
                            Candidate("nodigest.tar.gz")},
                           true, f.Log());
  REQUIRE(r.ok());
  CHECK(r->file.name == "nodigest.tar.gz");
  CHECK(server.requests().empty());
}

TEST_CASE("Ensure downloads, checks the digest and falls through a 404 to the next URL",
          "[cache]") {
  Fixture f;
  TestHttpServer server(Files{{"/mirror/known.tar.gz", kKnownContent}});
  auto r = f.cache->Ensure(
      {Candidate("known.tar.gz", kKnownSha,
                 {server.Url("/gone/known.tar.gz"), server.Url("/mirror/known.tar.gz")})},
      true, f.Log());
  INFO(r.status().ToString() << "\nlog:\n" << f.LogText());
  REQUIRE(r.ok());
  CHECK(r->sha256 == kKnownSha);
  CHECK(*ReadFile(r->path) == kKnownContent);
  CHECK(server.requests() ==
        std::vector<std::string>{"/gone/known.tar.gz", "/mirror/known.tar.gz"});
  CHECK(absl::StrContains(f.LogText(), "downloading " + server.Url("/gone/known.tar.gz")));
  CHECK(absl::StrContains(f.LogText(), "404"));
  CHECK(absl::StrContains(f.LogText(), "stored known.tar.gz"));
  CHECK(f.Temporary() == 0);
  auto rec = f.store->FindSourceByName("known.tar.gz");
  REQUIRE(rec.ok());
  REQUIRE(rec->has_value());
  CHECK((*rec)->sha256() == kKnownSha);

  // Now cached: no second download.
  auto again = f.cache->Ensure(
      {Candidate("known.tar.gz", kKnownSha, {server.Url("/mirror/known.tar.gz")})}, true, f.Log());
  REQUIRE(again.ok());
  CHECK(server.requests().size() == 2);
}

TEST_CASE("Ensure does not store a download whose digest does not match", "[cache]") {
  Fixture f;
  TestHttpServer server(
      Files{{"/evil/known.tar.gz", "tampered bytes"}, {"/good/known.tar.gz", kKnownContent}});
  SECTION("and tries the next URL") {
    auto r = f.cache->Ensure(
        {Candidate("known.tar.gz", kKnownSha,
                   {server.Url("/evil/known.tar.gz"), server.Url("/good/known.tar.gz")})},
        true, f.Log());
    REQUIRE(r.ok());
    CHECK(f.Stored() == 1);
    CHECK(absl::StrContains(f.LogText(), "nothing was stored"));
  }
  SECTION("and fails when no URL has the right bytes") {
    auto r = f.cache->Ensure(
        {Candidate("known.tar.gz", kKnownSha, {server.Url("/evil/known.tar.gz")})}, true, f.Log());
    REQUIRE(!r.ok());
    CHECK(r.status().code() == absl::StatusCode::kNotFound);
    CHECK(absl::StrContains(r.status().message(), "every download failed"));
    CHECK(f.Stored() == 0);
  }
  // The catalog's digest is enforced even for a candidate that has none.
  SECTION("against the catalog's digest") {
    auto r = f.cache->Ensure({Candidate("known.tar.gz", "", {server.Url("/evil/known.tar.gz")})},
                             true, f.Log());
    REQUIRE(!r.ok());
    CHECK(f.Stored() == 0);
  }
  CHECK(f.Temporary() == 0);
}

TEST_CASE("Ensure trusts and records the first download of a source without a digest", "[cache]") {
  Fixture f;
  TestHttpServer server(Files{{"/nodigest.tar.gz", "any bytes"}});
  auto r = f.cache->Ensure({Candidate("nodigest.tar.gz", "", {server.Url("/nodigest.tar.gz")})},
                           true, f.Log());
  REQUIRE(r.ok());
  CHECK(r->sha256 == Sha256Hex("any bytes"));
  // Later builds find it by name without downloading.
  auto again = f.cache->Ensure({Candidate("nodigest.tar.gz")}, false, f.Log());
  REQUIRE(again.ok());
  CHECK(again->sha256 == r->sha256);
  CHECK(server.requests().size() == 1);
}

TEST_CASE("Ensure reports an unreachable server and goes on", "[cache]") {
  Fixture f;
  int closed_port;
  {
    TestHttpServer gone(Files{});
    closed_port = gone.port();
  }
  TestHttpServer server(Files{{"/known.tar.gz", kKnownContent}});
  auto r =
      f.cache->Ensure({Candidate("known.tar.gz", kKnownSha,
                                 {absl::StrCat("http://127.0.0.1:", closed_port, "/known.tar.gz"),
                                  server.Url("/known.tar.gz")})},
                      true, f.Log());
  INFO(f.LogText());
  REQUIRE(r.ok());
  CHECK(f.Temporary() == 0);
}

TEST_CASE("Ensure retries a URL that answers 503 with backoff, and only that", "[cache]") {
  Fixture f;
  TestHttpServer server(Files{{"/busy/known.tar.gz", kKnownContent}});
  server.FailFirst("/busy/known.tar.gz", 2);
  auto r = f.cache->Ensure(
      {Candidate("known.tar.gz", kKnownSha, {server.Url("/busy/known.tar.gz")})}, true, f.Log());
  INFO(r.status().ToString() << "\nlog:\n" << f.LogText());
  REQUIRE(r.ok());
  CHECK(server.requests().size() == 3);
  CHECK(absl::StrContains(f.LogText(), "503"));
  CHECK(absl::StrContains(f.LogText(), "(attempt 2 of 4)"));
  CHECK(absl::StrContains(f.LogText(), "(attempt 3 of 4)"));
  CHECK(!absl::StrContains(f.LogText(), "(attempt 4 of 4)"));
}

TEST_CASE("Ensure gives up on a URL after the policy's attempts", "[cache]") {
  Fixture f;
  TestHttpServer server(Files{{"/down/known.tar.gz", kKnownContent}});
  server.FailFirst("/down/known.tar.gz", 100);
  auto r = f.cache->Ensure(
      {Candidate("known.tar.gz", kKnownSha, {server.Url("/down/known.tar.gz")})}, true, f.Log());
  REQUIRE(!r.ok());
  CHECK(server.requests().size() == 4);
  CHECK(f.Temporary() == 0);
}

TEST_CASE("A download larger than max_source_size is refused and nothing is stored", "[cache]") {
  Fixture f(Env::Default(), QuickRetries(/*max_bytes=*/8));
  TestHttpServer server(Files{{"/big/known.tar.gz", kKnownContent}});
  auto r = f.cache->Ensure(
      {Candidate("known.tar.gz", kKnownSha, {server.Url("/big/known.tar.gz")})}, true, f.Log());
  INFO(f.LogText());
  REQUIRE(!r.ok());
  CHECK(absl::StrContains(f.LogText(), "max_source_size"));
  CHECK(server.requests().size() == 1);  // not retried: it would not shrink
  CHECK(f.Temporary() == 0);
  CHECK(f.Stored() == 0);
}

TEST_CASE("Backoff doubles up to its cap, each delay less at most its jitter", "[cache]") {
  BackoffPolicy p{.attempts = 5,
                  .initial_backoff = absl::Seconds(1),
                  .max_backoff = absl::Seconds(3),
                  .jitter = 0.2};
  Backoff b(p);
  const absl::Duration want[] = {absl::Seconds(1), absl::Seconds(2), absl::Seconds(3),
                                 absl::Seconds(3)};
  for (absl::Duration w : want) {
    absl::Duration d = b.Next();
    CHECK(d <= w);
    CHECK(d >= w * 0.8);
  }
  b.Reset();
  CHECK(b.Next() <= absl::Seconds(1));
}

// Faults while a source is written: the error says what happened, nothing
// is stored or indexed, no temporary file is left, and a copy stored
// earlier under the same name stays.
struct FaultFixture {
  testing::FaultEnv env;
  Fixture f{&env};
  absl::StatusOr<v1::Source> AddBig() {
    return f.cache->Add("nodigest.tar.gz", "", Chunks({std::string(5000, 'a'), "b", "c"}));
  }
  void CheckNothingNew(const std::string& kept_sha) {
    CHECK(f.Temporary() == 0);
    CHECK(f.Stored() == (kept_sha.empty() ? 0 : 1));
    auto rec = f.store->FindSourceByName("nodigest.tar.gz");
    REQUIRE(rec.ok());
    if (kept_sha.empty()) {
      CHECK(!rec->has_value());
    } else {
      REQUIRE(rec->has_value());
      CHECK((*rec)->sha256() == kept_sha);
      CHECK(*ReadFile(f.root() / "sha256" / kept_sha) == "earlier copy");
    }
  }
};

TEST_CASE("SourceCache Add on a full disk is ResourceExhausted and stores nothing",
          "[cache][fault]") {
  FaultFixture t;
  auto earlier = t.f.cache->Add("nodigest.tar.gz", "", Chunks({"earlier copy"}));
  REQUIRE(earlier.ok());
  t.env.space_left = 1000;
  auto s = t.AddBig();
  REQUIRE(!s.ok());
  CHECK(s.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK_THAT(std::string(s.status().message()),
             Catch::Contains("write source nodigest.tar.gz") &&
                 Catch::Contains("No space left on device") && Catch::Contains("free disk space"));
  t.CheckNothingNew(earlier->sha256());
}

TEST_CASE("SourceCache Add with a failing write stores nothing", "[cache][fault]") {
  FaultFixture t;
  t.env.fail_write_number = 2;
  auto s = t.AddBig();
  REQUIRE(!s.ok());
  CHECK(s.status().code() == absl::StatusCode::kInternal);
  CHECK_THAT(std::string(s.status().message()), Catch::Contains("Input/output error"));
  t.CheckNothingNew("");
}

TEST_CASE("SourceCache Add with a failing fsync stores nothing", "[cache][fault]") {
  FaultFixture t;
  auto earlier = t.f.cache->Add("nodigest.tar.gz", "", Chunks({"earlier copy"}));
  REQUIRE(earlier.ok());
  t.env.fail_sync = true;
  auto s = t.AddBig();
  REQUIRE(!s.ok());
  CHECK_THAT(std::string(s.status().message()),
             Catch::Contains("store source nodigest.tar.gz") && Catch::Contains("fsync"));
  CHECK(t.env.renames == 1);  // only the earlier copy was renamed into place
  t.CheckNothingNew(earlier->sha256());
}

TEST_CASE("SourceCache download on a full disk fails and stores nothing", "[cache][fault]") {
  FaultFixture t;
  TestHttpServer server(Files{{"/known.tar.gz", kKnownContent}});
  t.env.space_left = 3;
  auto r = t.f.cache->Ensure({Candidate("known.tar.gz", kKnownSha, {server.Url("/known.tar.gz")})},
                             true, t.f.Log());
  REQUIRE(!r.ok());
  CHECK_THAT(t.f.LogText(), Catch::Contains("No space left on device") &&
                                Catch::Contains("free disk space"));
  CHECK(t.f.Stored() == 0);
  CHECK(t.f.Temporary() == 0);
}

TEST_CASE("SourceCache makes a stored source durable: fsync, rename, fsync of the directory",
          "[cache][fault]") {
  FaultFixture t;
  REQUIRE(t.AddBig().ok());
  CHECK(t.env.syncs == 1);
  CHECK(t.env.renames == 1);
  CHECK(t.env.dir_syncs == 1);
}

}  // namespace
}  // namespace sfactory::cache
