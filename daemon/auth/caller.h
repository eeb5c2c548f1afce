// Who is calling: the identity every RPC handler works with. It comes from
// the kernel (unix socket peer credentials), a bearer token (TCP over TLS)
// or a verified client certificate (mutual TLS) — never from what the
// client says about itself.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace sfactory::auth {

enum class Via { kUnixSocket, kToken, kCertificate };

struct Caller {
  std::string name;            // user name, token name or certificate CN
  std::optional<uid_t> uid;    // unix socket callers only
  bool admin = false;
  Via via = Via::kUnixSocket;
  std::string token_name;      // token callers only
  std::string peer;            // for logs: "uid 1001", "token ci-runner", ...

  // "alice (uid 1001)", "ci (token ci-gitlab)", "build01 (certificate)".
  std::string Describe() const;
};

}  // namespace sfactory::auth
