#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "common/clock.h"
#include "common/fs.h"
#include "daemon/auth/admins.h"
#include "daemon/auth/authenticator.h"
#include "daemon/auth/token.h"

namespace sfactory::auth {
namespace {

TEST_CASE("A generated token parses back to its id and secret digest", "[auth]") {
  auto t = GenerateToken();
  REQUIRE(t.ok());
  CHECK(absl::StartsWith(t->text, "sft1_" + t->id + "_"));
  auto p = ParseToken(t->text + "\n");
  REQUIRE(p.ok());
  CHECK(p->id == t->id);
  CHECK(DigestsEqual(p->secret_sha256, t->secret_sha256));
  auto other = GenerateToken();
  REQUIRE(other.ok());
  CHECK(other->id != t->id);
  CHECK(!DigestsEqual(other->secret_sha256, t->secret_sha256));
  // The secret itself is never what is kept.
  CHECK(!absl::StrContains(t->text, t->secret_sha256));
}

TEST_CASE("Malformed tokens are UNAUTHENTICATED without echoing them", "[auth]") {
  for (const char* bad : {"", "sft1_", "sft2_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                          "sft1_0123456789ABCDEF_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                          "sft1_0123456789abcdef_short", "sft1_0123456789abcdef_AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
    auto p = ParseToken(bad);
    INFO(bad);
    REQUIRE(!p.ok());
    CHECK(p.status().code() == absl::StatusCode::kUnauthenticated);
    if (std::string(bad).size() > 10) CHECK(!absl::StrContains(p.status().message(), bad));
  }
  CHECK(BearerToken("Bearer  sft1_x ").ok());
  CHECK(*BearerToken("bearer abc") == "abc");
  CHECK(!BearerToken("Basic abc").ok());
}

struct Fixture {
  Fixture() {
    auto s = store::Store::Open(dir->path() / "state.db");
    REQUIRE(s.ok());
    store = std::move(*s);
  }
  // Creates a token for `user` and returns its text.
  std::string Make(const std::string& name, std::optional<absl::Duration> ttl = std::nullopt) {
    auto t = GenerateToken();
    REQUIRE(t.ok());
    store::TokenRecord r;
    r.id = t->id;
    r.name = name;
    r.user = "ci";
    r.created_by = "root";
    r.secret_sha256 = t->secret_sha256;
    r.created_at = clock.Now();
    if (ttl) r.expires_at = clock.Now() + *ttl;
    REQUIRE(store->InsertToken(r).ok());
    return t->text;
  }
  absl::StatusOr<TempDir> dir = TempDir::Create("sf-auth-");
  std::unique_ptr<store::Store> store;
  FakeClock clock;
  Admins admins{AdminRules{{"alice"}, {}}};
  Authenticator auth{{}, store.get(), &admins, &clock};
};

TEST_CASE("Tokens identify their user until revoked or expired", "[auth]") {
  Fixture f;
  Authenticator auth({}, f.store.get(), &f.admins, &f.clock);
  const std::string good = f.Make("good");
  const std::string soon = f.Make("soon", absl::Hours(1));

  auto c = auth.IdentifyToken(good);
  REQUIRE(c.ok());
  CHECK(c->name == "ci");
  CHECK(c->via == Via::kToken);
  CHECK(c->token_name == "good");
  CHECK(!c->admin);
  REQUIRE(f.store->FindToken(good.substr(5, 16))->has_value());
  CHECK((*f.store->FindToken(good.substr(5, 16)))->last_used_at == f.clock.Now());

  // The right id with another secret.
  std::string forged = good;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  CHECK(auth.IdentifyToken(forged).status().code() == absl::StatusCode::kUnauthenticated);

  CHECK(auth.IdentifyToken(soon).ok());
  f.clock.Advance(absl::Hours(2));
  auto expired = auth.IdentifyToken(soon);
  CHECK(expired.status().code() == absl::StatusCode::kUnauthenticated);
  CHECK(absl::StrContains(expired.status().message(), "expired"));

  REQUIRE(f.store->DeleteToken("good").ok());
  CHECK(auth.IdentifyToken(good).status().code() == absl::StatusCode::kUnauthenticated);
  CHECK(f.store->DeleteToken("good").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("A token name is unique", "[auth]") {
  Fixture f;
  f.Make("dup");
  auto t = GenerateToken();
  REQUIRE(t.ok());
  store::TokenRecord r;
  r.id = t->id;
  r.name = "dup";
  r.secret_sha256 = t->secret_sha256;
  CHECK(f.store->InsertToken(r).code() == absl::StatusCode::kAlreadyExists);
}

TEST_CASE("Owner-or-admin and admin-only rules say who may", "[auth]") {
  Admins admins(AdminRules{{"alice"}, {}});
  Caller bob{.name = "bob"};
  Caller alice{.name = "alice", .admin = true};
  CHECK(admins.RequireOwnerOrAdmin(bob, "bob", "cancel build b1").ok());
  CHECK(admins.RequireOwnerOrAdmin(alice, "bob", "cancel build b1").ok());
  absl::Status no = admins.RequireOwnerOrAdmin(bob, "carol", "cancel build b1");
  CHECK(no.code() == absl::StatusCode::kPermissionDenied);
  CHECK(absl::StrContains(no.message(), "carol"));
  CHECK(absl::StrContains(no.message(), "alice"));
  CHECK(admins.Require(bob, "prune base images").code() == absl::StatusCode::kPermissionDenied);
  CHECK(admins.Require(alice, "prune base images").ok());
  CHECK(admins.IsAdminUser(0));
  CHECK(admins.IsAdminName("alice"));
  CHECK(!admins.IsAdminName("root"));
}

}  // namespace
}  // namespace sfactory::auth
