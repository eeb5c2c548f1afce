// How the client proves who it is, from the resolved settings: nothing on a
// unix socket (the daemon asks the kernel for the caller's uid), TLS on
// every other address, with a bearer token and optionally a client
// certificate.
#pragma once

#include <filesystem>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/settings.h"
#include "grpcpp/security/credentials.h"

namespace sfactory::client {

// "unix:PATH" and "unix-abstract:NAME": plaintext, identity by SO_PEERCRED.
bool IsUnixAddress(absl::string_view address);

struct ChannelSecurity {
  std::string address;
  bool tls = false;
  std::string root_certs;    // PEM; empty: the system's CAs
  std::string cert_chain;    // PEM client certificate (mutual TLS); empty: none
  std::string private_key;   // PEM, with cert_chain
  std::string token;         // bearer token; empty: none
  std::string token_origin;  // where the token came from, for messages
};

// Reads the files the settings name. Errors: INVALID_ARGUMENT (exit 2) for
// a token meant for a plaintext unix socket (a token from a flag or the
// environment; the config file's token is skipped when only the address
// changed to a socket), a certificate without its key or the reverse, or
// an empty token; the file's own error (NOT_FOUND, PERMISSION_DENIED) with
// the setting's origin otherwise. Warnings (a token file others may read)
// go to `warnings`.
absl::StatusOr<ChannelSecurity> LoadChannelSecurity(const ConnectionSettings& settings,
                                                    std::ostream& warnings);

// The token in `path` without surrounding white space (a trailing newline
// is usual). Warns on `warnings` when the file is readable by its group or
// by others. INVALID_ARGUMENT when it is empty or not one printable word.
absl::StatusOr<std::string> ReadTokenFile(const std::filesystem::path& path,
                                          absl::string_view origin, std::ostream& warnings);

// Insecure for a unix socket; SSL (plus the client certificate, plus
// "authorization: Bearer TOKEN" on every call) otherwise.
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const ChannelSecurity& security);

}  // namespace sfactory::client
