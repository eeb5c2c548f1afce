#include "daemon/auth/token.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/sha256.h"

namespace sfactory::auth {
namespace {

constexpr absl::string_view kPrefix = "sft1_";
constexpr size_t kIdHex = 16;
constexpr size_t kSecretBytes = 32;

bool IsBase64Url(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<NewToken> GenerateToken() {
  unsigned char id[kIdHex / 2];
  unsigned char secret[kSecretBytes];
  if (RAND_bytes(id, sizeof id) != 1 || RAND_bytes(secret, sizeof secret) != 1) {
    return absl::InternalError("the system's random number generator failed");
  }
  NewToken t;
  t.id = absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(id), sizeof id));
  std::string secret_text =
      absl::WebSafeBase64Escape(absl::string_view(reinterpret_cast<char*>(secret), sizeof secret));
  t.secret_sha256 = Sha256Hex(secret_text);
  t.text = absl::StrCat(kPrefix, t.id, "_", secret_text);
  OPENSSL_cleanse(secret, sizeof secret);
  return t;
}

absl::StatusOr<PresentedToken> ParseToken(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  auto malformed = [] {
    return absl::UnauthenticatedError(
        "the token is malformed (expected sft1_<id>_<secret>, as `sfactory tokens create` "
        "prints it); check the token file");
  };
  if (!absl::ConsumePrefix(&text, kPrefix) || text.size() < kIdHex + 2 || text[kIdHex] != '_') {
    return malformed();
  }
  absl::string_view id = text.substr(0, kIdHex);
  absl::string_view secret = text.substr(kIdHex + 1);
  for (char c : id) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) || absl::ascii_isupper(static_cast<unsigned char>(c))) {
      return malformed();
    }
  }
  if (secret.size() < 40 || secret.size() > 64 || !IsBase64Url(secret)) return malformed();
  return PresentedToken{std::string(id), Sha256Hex(secret)};
}

bool DigestsEqual(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::StatusOr<absl::string_view> BearerToken(absl::string_view authorization) {
  absl::string_view v = absl::StripAsciiWhitespace(authorization);
  if (v.size() < 7 || !absl::EqualsIgnoreCase(v.substr(0, 7), "bearer ")) {
    return absl::NotFoundError("not a bearer credential");
  }
  return absl::StripAsciiWhitespace(v.substr(7));
}

}  // namespace sfactory::auth
