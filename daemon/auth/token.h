// Bearer tokens for callers over TCP (CI runners, workstations).
//
// A token reads "sft1_<id>_<secret>": <id> (16 hex digits) names the row in
// the store, <secret> is 256 random bits (43 base64url characters). Only the
// SHA-256 of the secret is stored; a presented token is checked by looking
// its id up and comparing digests in constant time (CRYPTO_memcmp). Tokens
// never go into logs: messages name a token by its name or id only.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sfactory::auth {

struct NewToken {
  std::string id;
  std::string secret_sha256;  // what the store keeps
  std::string text;           // what the user gets, once
};

// A fresh token from the system's CSPRNG (OpenSSL RAND_bytes).
absl::StatusOr<NewToken> GenerateToken();

struct PresentedToken {
  std::string id;
  std::string secret_sha256;
};

// Splits and checks the syntax of a token (whitespace around it trimmed).
// Unauthenticated, without echoing the token, when it is malformed.
absl::StatusOr<PresentedToken> ParseToken(absl::string_view text);

// Constant-time comparison of two hex digests of equal length.
bool DigestsEqual(absl::string_view a, absl::string_view b);

// The token in an "authorization: Bearer <token>" metadata value; NotFound
// when the value is not a bearer credential.
absl::StatusOr<absl::string_view> BearerToken(absl::string_view authorization);

}  // namespace sfactory::auth
