// Configuration of the LXD provider: the `lxd:` section of sfactoryd's YAML
// config (see docs/LXD.md for every key).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/provider/lxd/lxd_client.h"
#include "yaml-cpp/yaml.h"

namespace sfactory::provider::lxd {

struct LxdOptions {
  // Local unix socket; empty = look in the usual places (FindLxdSocket).
  std::string socket;
  // Remote LXD or cluster ("https://host:8443"); when set, the socket is not
  // used and client_cert/client_key are required.
  std::string url;
  std::string client_cert;
  std::string client_key;
  // The server's certificate (pinned) or its CA; empty = system CA store.
  std::string server_cert;
  // LXD project of sfactory's instances and images; created when missing.
  std::string project = "sfactory";
  // Storage pool for instances; empty = "default" if it exists, else the first.
  std::string storage_pool;
  // Base images older than this are rebuilt.
  int base_max_age_days = 90;
  // LXD image alias or fingerprint (in `project`) that bases start from;
  // empty = sfactoryd builds the root filesystem with debootstrap.
  std::string image_source;
  std::string debian_mirror = "http://deb.debian.org/debian";
  // Limits for instances whose request has none (0 = no limit).
  int cpus = 0;
  uint64_t memory_bytes = 0;
  // Run build containers privileged instead of unprivileged with a
  // raw.idmap. Saves shifting the root filesystem to a new id map on every
  // copy (about 1 s on the dir backend); only for a daemon running as root.
  bool privileged = false;
  // Longest wait for one LXD operation (create, start, stop, delete, import).
  int operation_timeout_seconds = 600;
};

// Reads the map under `lxd:`. `source` names the config file in errors;
// unknown keys are errors with file and line. A null node gives defaults.
absl::StatusOr<LxdOptions> ParseLxdOptions(absl::string_view source, const YAML::Node& node);


// The endpoint the options describe.
LxdEndpoint EndpointFor(const LxdOptions& options);

}  // namespace sfactory::provider::lxd
