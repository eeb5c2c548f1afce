// install: a build's release files onto the cluster's shared filesystem
// (client/install.h does the work; this file gets the files and prints).
#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/install.h"
#include "client/output.h"
#include "common/status.h"

namespace sfactory::client {
namespace {

namespace fs = std::filesystem;

// Where fetched files are kept between installs: $XDG_CACHE_HOME/sfactory/
// builds/<id>, else ~/.cache/sfactory/builds/<id>. Kept, so that installing
// again (or resuming an interrupted fetch) downloads nothing.
absl::StatusOr<fs::path> DownloadDir(CommandContext& ctx, const std::string& build_id) {
  fs::path base;
  if (auto xdg = ctx.Env("XDG_CACHE_HOME"); xdg && !xdg->empty() && (*xdg)[0] == '/') {
    base = *xdg;
  } else if (auto home = ctx.Env("HOME"); home && !home->empty()) {
    base = fs::path(*home) / ".cache";
  } else {
    return UsageError(
        "neither XDG_CACHE_HOME nor HOME is set, so there is no download cache: fetch the files "
        "(sfactory fetch BUILD -o DIR) and install them with --from DIR");
  }
  return base / "sfactory" / "builds" / build_id;
}

absl::Status NotInstallable(const v1::Build& build) {
  const std::string& id = build.id();
  switch (build.state()) {
    case v1::BUILD_STATE_QUEUED:
    case v1::BUILD_STATE_RUNNING:
      return absl::FailedPreconditionError(absl::StrCat(
          "build ", id, " is ", StateName(build.state()),
          ", it has nothing to install yet: wait for it (sfactory logs ", id,
          " -f) and install again"));
    case v1::BUILD_STATE_FAILED:
      return absl::FailedPreconditionError(absl::StrCat(
          "build ", id, " failed, it has nothing to install: see why with sfactory logs ", id,
          ", then install a build that succeeded (sfactory list --state succeeded)"));
    case v1::BUILD_STATE_CANCELLED:
      return absl::FailedPreconditionError(absl::StrCat(
          "build ", id, " was cancelled, it has nothing to install: install a build that "
          "succeeded (sfactory list --state succeeded)"));
    default:
      return absl::FailedPreconditionError(
          absl::StrCat("build ", id, " has not succeeded; it has nothing to install"));
  }
}

google::protobuf::Struct ReportJson(const InstallReport& r, const fs::path& files_dir) {
  google::protobuf::Struct doc;
  auto& f = *doc.mutable_fields();
  f["build_id"] = JsonString(r.build_id);
  f["package"] = JsonString(r.package);
  f["version"] = JsonString(r.version);
  f["digest"] = JsonString(r.digest);
  f["files_dir"] = JsonString(files_dir.string());
  f["install_dir"] = JsonString(r.install_dir.string());
  f["link"] = JsonString(r.link.string());
  f["previous_target"] = JsonString(r.previous_target);
  f["dry_run"].set_bool_value(r.mode == InstallMode::kDryRun);
  f["changed"].set_bool_value(r.changed);
  google::protobuf::Value& actions = f["actions"];
  actions.mutable_list_value();
  for (const InstallAction& a : r.actions) {
    google::protobuf::Value item;
    auto& af = *item.mutable_struct_value()->mutable_fields();
    af["action"] = JsonString(std::string(ActionName(a.kind)));
    af["path"] = JsonString(a.path.string());
    af["detail"] = JsonString(a.detail);
    *actions.mutable_list_value()->add_values() = std::move(item);
  }
  return doc;
}

}  // namespace

absl::Status InstallCommand(CommandContext& ctx) {
  const ParsedArgs& a = ctx.args();
  const std::string id = a.positional()[0];
  InstallRequest request;
  request.prefix = a.String("prefix");
  request.lmod_dir = a.String("modules");
  request.tcl_dir = a.String("tcl-modules");
  request.mode = a.Bool("dry-run") ? InstallMode::kDryRun : InstallMode::kApply;
  if (request.prefix.empty()) {
    return UsageError("--prefix DIR is required: where the software goes, e.g. /shared/apps/slurm");
  }
  if (request.lmod_dir.empty() && request.tcl_dir.empty()) {
    return UsageError(
        "--modules DIR (Lmod) or --tcl-modules DIR (Tcl modulefiles) is required: where the "
        "module files go, e.g. --modules /shared/modulefiles");
  }
  if (a.Has("from")) {
    // Offline: the files speak for themselves (SHA256SUMS, manifest.json).
    request.artifacts_dir = a.String("from");
    if (request.artifacts_dir.empty()) return UsageError("--from needs a directory");
    request.expected_build_id = id;
  } else {
    SF_ASSIGN_OR_RETURN(Connection * conn, ctx.Connect());
    SF_ASSIGN_OR_RETURN(v1::Build build, GetBuild(*conn, id));
    if (build.state() != v1::BUILD_STATE_SUCCEEDED) return NotInstallable(build);
    SF_ASSIGN_OR_RETURN(request.artifacts_dir, DownloadDir(ctx, build.id()));
    TransferMeter meter(ctx.err());
    SF_RETURN_IF_ERROR(FetchArtifacts(*conn, build, "", request.artifacts_dir, ctx.err(),
                                      ctx.err_is_terminal() ? &meter : nullptr)
                           .status());
    request.expected_build_id = build.id();
    request.build = std::move(build);
  }
  SF_ASSIGN_OR_RETURN(InstallReport report, Install(request));
  if (ctx.json()) return PrintJson(ctx, ReportJson(report, request.artifacts_dir));
  return WriteOut(ctx.out(), DescribeInstall(report));
}

}  // namespace sfactory::client
