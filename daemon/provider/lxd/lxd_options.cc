#include "daemon/provider/lxd/lxd_options.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/yaml_util.h"

namespace sfactory::provider::lxd {


absl::StatusOr<LxdOptions> ParseLxdOptions(absl::string_view source, const YAML::Node& node) {
  LxdOptions o;
  if (!node || node.IsNull()) return o;
  SF_RETURN_IF_ERROR(CheckKeys(source, node,
                               {"socket", "url", "client_cert", "client_key", "server_cert",
                                "project", "storage_pool", "base_max_age_days", "image_source",
                                "debian_mirror", "cpus", "memory", "privileged",
                                "operation_timeout_seconds"}));
  auto str = [&](const char* key, std::string* out) -> absl::Status {
    if (!node[key]) return absl::OkStatus();
    SF_ASSIGN_OR_RETURN(*out, YamlString(source, node[key]));
    return absl::OkStatus();
  };
  auto num = [&](const char* key, int* out, int min) -> absl::Status {
    if (!node[key]) return absl::OkStatus();
    SF_ASSIGN_OR_RETURN(int64_t v, YamlInt(source, node[key]));
    if (v < min || v > 1000000) {
      return YamlError(source, node[key], absl::StrCat(key, " must be at least ", min));
    }
    *out = static_cast<int>(v);
    return absl::OkStatus();
  };
  SF_RETURN_IF_ERROR(str("socket", &o.socket));
  SF_RETURN_IF_ERROR(str("url", &o.url));
  SF_RETURN_IF_ERROR(str("client_cert", &o.client_cert));
  SF_RETURN_IF_ERROR(str("client_key", &o.client_key));
  SF_RETURN_IF_ERROR(str("server_cert", &o.server_cert));
  SF_RETURN_IF_ERROR(str("project", &o.project));
  SF_RETURN_IF_ERROR(str("storage_pool", &o.storage_pool));
  SF_RETURN_IF_ERROR(str("image_source", &o.image_source));
  SF_RETURN_IF_ERROR(str("debian_mirror", &o.debian_mirror));
  SF_RETURN_IF_ERROR(num("base_max_age_days", &o.base_max_age_days, 1));
  SF_RETURN_IF_ERROR(num("cpus", &o.cpus, 0));
  SF_RETURN_IF_ERROR(num("operation_timeout_seconds", &o.operation_timeout_seconds, 10));
  if (node["privileged"]) {
    SF_ASSIGN_OR_RETURN(o.privileged, YamlBool(source, node["privileged"]));
  }
  if (node["memory"]) {
    SF_ASSIGN_OR_RETURN(o.memory_bytes, YamlByteSize(source, node["memory"]));
  }
  if (!o.url.empty()) {
    if (!absl::StartsWith(o.url, "https://")) {
      return YamlError(source, node["url"], "url must start with https://");
    }
    if (o.client_cert.empty() || o.client_key.empty()) {
      return YamlError(source, node["url"], "a remote url needs client_cert and client_key");
    }
  }
  if (o.project.empty()) return YamlError(source, node["project"], "project must not be empty");
  return o;
}

LxdEndpoint EndpointFor(const LxdOptions& options) {
  LxdEndpoint e;
  e.socket = options.socket;
  e.url = options.url;
  e.client_cert = options.client_cert;
  e.client_key = options.client_key;
  e.server_cert = options.server_cert;
  e.project = options.project;
  return e;
}

}  // namespace sfactory::provider::lxd
