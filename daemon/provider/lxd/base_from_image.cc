// Building a base from an LXD image (lxd.image_source): launch it, install
// the recipe's packages inside, stop it and publish it as the base.
#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "daemon/provider/lxd/base_pool.h"
#include "daemon/provider/lxd/base_pool_internal.h"
#include "daemon/provider/lxd/lxd_instance.h"

namespace sfactory::provider::lxd {
using base_internal::Now;
using base_internal::Say;

absl::StatusOr<std::string> BasePool::BuildFromImage(const BaseDefinition& base,
                                                     const std::string& storage_pool,
                                                     OutputSink& log, CancelToken& cancel) {
  const std::string& src = options_.image_source;
  Json source{{"type", "image"}};
  absl::StatusOr<Json> by_fp = client_.Sync("GET", absl::StrCat("/1.0/images/", src), Json(),
                                            absl::StrCat("look up image ", src));
  if (by_fp.ok()) {
    source["fingerprint"] = by_fp->value("fingerprint", src);
  } else {
    source["alias"] = src;
  }
  std::string name = absl::StrCat("sf-base-", base.digest.substr(0, 12));
  SF_RETURN_IF_ERROR(DeleteInstance(client_, name, op_timeout_));
  Json body{
      {"name", name},
      {"type", "container"},
      {"source", source},
      {"profiles", Json::array({"default"})},
      {"config", {{"user.sfactory.purpose", "base"}, {"user.sfactory.base-digest", base.digest}}},
      {"devices", {{"root", {{"type", "disk"}, {"path", "/"}, {"pool", storage_pool}}}}}};
  Say(log, absl::StrCat("launching ", name, " from image ", src));
  SF_RETURN_IF_ERROR(client_
                         .Run("POST", "/1.0/instances", body, op_timeout_,
                              absl::StrCat("create instance ", name, " (from image ", src, ")"))
                         .status());
  auto cleanup = [&] { (void)DeleteInstance(client_, name, op_timeout_); };
  absl::Status s = StartInstance(client_, name, op_timeout_);
  if (s.ok()) s = WaitUntilReady(client_, name, std::chrono::seconds(120), &cancel);
  if (s.ok() && !base.packages.empty()) {
    StreamingExec exec;
    exec.command = {"bash", "-ec",
                    absl::StrCat("apt-get update && apt-get install -y --no-install-recommends ",
                                 absl::StrJoin(base.packages, " "), " && apt-get clean")};
    exec.environment = {{"DEBIAN_FRONTEND", "noninteractive"}};
    exec.what = "install base packages";
    absl::StatusOr<int> rc = ExecStreaming(client_, name, exec, log, &cancel, nullptr, op_timeout_);
    if (!rc.ok()) {
      s = rc.status();
    } else if (*rc != 0) {
      s = absl::FailedPreconditionError(absl::StrCat(
          "lxd: installing packages in ", name, " failed with exit code ", *rc,
          " (the instance needs a network: add a NIC to the default profile of project ",
          options_.project, ")"));
    }
  }
  if (s.ok()) {
    absl::StatusOr<int> rc = ExecQuiet(
        client_, name,
        {"mkdir", "-p", "/sf/work/.phases", "/sf/out", "/sf/cache/sources", "/sf/cache/ccache"},
        op_timeout_);
    s = rc.ok() ? (*rc == 0 ? absl::OkStatus() : absl::InternalError("mkdir /sf failed"))
                : rc.status();
  }
  if (s.ok()) s = StopInstance(client_, name, op_timeout_);
  if (!s.ok()) {
    cleanup();
    return s;
  }
  Json properties = Json::object();
  for (const auto& [key, value] : base_internal::BaseProperties(base, Now())) {
    properties[key] = value;
  }
  Json publish{{"source", {{"type", "instance"}, {"name", name}}}, {"properties", properties}};
  Say(log, absl::StrCat("publishing ", name, " as ", base.Alias()));
  absl::StatusOr<LxdOperation> done = client_.Run("POST", "/1.0/images", publish, op_timeout_,
                                                  absl::StrCat("publish base ", base.Alias()));
  cleanup();
  if (!done.ok()) return done.status();
  std::string fp = done->metadata.is_object() ? done->metadata.value("fingerprint", "") : "";
  if (fp.empty()) return absl::InternalError("lxd: publish base: no fingerprint");
  return fp;
}

}  // namespace sfactory::provider::lxd
