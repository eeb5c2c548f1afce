#include "client/credentials.h"

#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fs.h"
#include "common/status.h"

namespace sfactory::client {
namespace {

// A setting's file, with its origin in front of any error.
absl::StatusOr<std::string> ReadSettingFile(const Setting& s) {
  absl::StatusOr<std::string> text = ReadFile(s.value);
  if (!text.ok()) return Annotate(text.status(), s.origin);
  return text;
}

// A token must be one word of printable ASCII: it goes into a header.
absl::StatusOr<std::string> CheckToken(absl::string_view raw, absl::string_view origin) {
  absl::string_view token = absl::StripAsciiWhitespace(raw);
  if (token.empty())
    return absl::InvalidArgumentError(absl::StrCat("the token from ", origin, " is empty"));
  for (char c : token) {
    if (c <= ' ' || c > '~') {
      return absl::InvalidArgumentError(
          absl::StrCat("the token from ", origin,
                       " holds white space or other non-printable characters; "
                       "it should be the one line `sfactory tokens create` printed"));
    }
  }
  return std::string(token);
}

}  // namespace

bool IsUnixAddress(absl::string_view address) {
  return absl::StartsWith(address, "unix:") || absl::StartsWith(address, "unix-abstract:");
}

absl::StatusOr<std::string> ReadTokenFile(const std::filesystem::path& path,
                                          absl::string_view origin, std::ostream& warnings) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    warnings << absl::StrFormat(
                    "sfactory: warning: the token file %s is readable by others (mode %04o); "
                    "`chmod 600 %s` keeps it yours\n",
                    path.string(), st.st_mode & 07777, path.string())
             << std::flush;
  }
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return Annotate(text.status(), origin);
  return CheckToken(*text, absl::StrCat(origin, " (", path.string(), ")"));
}

absl::StatusOr<ChannelSecurity> LoadChannelSecurity(const ConnectionSettings& settings,
                                                    std::ostream& warnings) {
  ChannelSecurity security;
  security.address = settings.address.value;
  security.tls = !IsUnixAddress(security.address);
  const Setting& token_setting = settings.token.empty() ? settings.token_file : settings.token;
  if (!security.tls) {
    // On the socket the kernel tells the daemon who the caller is; a token
    // sent there would travel in plaintext. A config file's token belongs to
    // that file's TCP address and is left out when only the address changed.
    const bool stray_config_token = token_setting.source == SettingSource::kConfigFile &&
                                    settings.address.source != SettingSource::kConfigFile;
    if (!token_setting.empty() && !stray_config_token) {
      return absl::InvalidArgumentError(absl::StrCat(
          "refusing to send the token from ", token_setting.origin, " over ", security.address,
          ", a plaintext unix socket: tokens go only over TLS (--address "
          "HOST:PORT). On the socket the daemon knows you by your uid and needs no token; "
          "drop the token setting there"));
    }
    return security;
  }

  if (!settings.ca_file.empty()) {
    SF_ASSIGN_OR_RETURN(security.root_certs, ReadSettingFile(settings.ca_file));
  }
  if (settings.cert_file.empty() != settings.key_file.empty()) {
    const Setting& given = settings.cert_file.empty() ? settings.key_file : settings.cert_file;
    return absl::InvalidArgumentError(
        absl::StrCat(given.origin, " names a ", settings.cert_file.empty() ? "key" : "certificate",
                     " file but no ",
                     settings.cert_file.empty() ? "certificate (--cert-file)" : "key (--key-file)",
                     " goes with it: mutual TLS needs both"));
  }
  if (!settings.cert_file.empty()) {
    SF_ASSIGN_OR_RETURN(security.cert_chain, ReadSettingFile(settings.cert_file));
    SF_ASSIGN_OR_RETURN(security.private_key, ReadSettingFile(settings.key_file));
  }
  if (!settings.token.empty()) {
    SF_ASSIGN_OR_RETURN(security.token, CheckToken(settings.token.value, settings.token.origin));
  } else if (!settings.token_file.empty()) {
    SF_ASSIGN_OR_RETURN(security.token, ReadTokenFile(settings.token_file.value,
                                                      settings.token_file.origin, warnings));
  }
  security.token_origin = token_setting.origin;
  return security;
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const ChannelSecurity& security) {
  if (!security.tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = security.root_certs;
  options.pem_cert_chain = security.cert_chain;
  options.pem_private_key = security.private_key;
  std::shared_ptr<grpc::ChannelCredentials> ssl = grpc::SslCredentials(options);
  if (security.token.empty()) return ssl;
  return grpc::CompositeChannelCredentials(ssl, grpc::AccessTokenCredentials(security.token));
}

}  // namespace sfactory::client
