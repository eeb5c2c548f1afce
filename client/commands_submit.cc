// submit: queue a build, follow it to the end, optionally fetch the result.
#include <limits>
#include <tuple>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/fetch.h"
#include "client/output.h"
#include "client/watch.h"
#include "common/status.h"

namespace sfactory::client {
namespace {

// Retried submits must not create a second build, so every submit carries a
// request id; a random one when the user gave none.
std::string NewRequestId() {
  absl::BitGen gen;
  return absl::StrFormat("sfactory-%016x", absl::Uniform<uint64_t>(gen));
}

std::string BuildLabel(const v1::Build& build) {
  return absl::StrCat(build.id(), " (", VersionText(build), ", ", SpecText(build), ")");
}

std::string SubmitLine(const v1::SubmitBuildResponse& response) {
  const v1::Build& b = response.build();
  switch (response.outcome()) {
    case v1::SUBMIT_OUTCOME_CREATED:
      return absl::StrCat("queued ", BuildLabel(b),
                          b.queue_position() > 0 ? absl::StrCat(", position ", b.queue_position())
                                                 : "");
    case v1::SUBMIT_OUTCOME_JOINED:
      return absl::StrCat("joined existing build ", BuildLabel(b), ", ", StateName(b.state()));
    case v1::SUBMIT_OUTCOME_REUSED:
      return absl::StrCat("reused ", BuildLabel(b),
                          ": an identical build already succeeded (--force builds again)");
    case v1::SUBMIT_OUTCOME_REPLAYED:
      return absl::StrCat(BuildLabel(b), " was already submitted with request id ",
                          b.request_id(), ", ", StateName(b.state()));
    default:
      return absl::StrCat("submitted ", BuildLabel(b), ", ", StateName(b.state()));
  }
}

// A queued build may wait for a reason the daemon knows (LXD down, disk
// low): say so at once instead of showing a silent queue. Best effort.
void WarnIfBuildsWait(Connection& conn, std::ostream& err) {
  v1::ServerInfo info;
  absl::Status s = conn.Unary([&](grpc::ClientContext& c) {
    return conn.info().GetServerInfo(&c, v1::GetServerInfoRequest(), &info);
  });
  if (!s.ok()) return;
  for (const std::string* problem : {&info.provider_problem(), &info.disk_problem()}) {
    if (!problem->empty()) err << "sfactory: builds are not starting now: " << *problem << "\n";
  }
  if (info.queue().paused()) {
    err << "sfactory: builds are not starting now: the queue is " << QueuePausedText(info.queue())
        << "\n";
  }
  err << std::flush;
}

// The exit status of a build the user waited for.
absl::Status Outcome(const v1::Build& b) {
  switch (b.state()) {
    case v1::BUILD_STATE_SUCCEEDED:
      return absl::OkStatus();
    case v1::BUILD_STATE_FAILED:
      return BuildFailedError(absl::StrCat("build ", b.id(), " failed",
                                           b.error().empty() ? "" : ": ", b.error()));
    case v1::BUILD_STATE_CANCELLED:
      return BuildCancelledError(absl::StrCat("build ", b.id(), " was cancelled",
                                              b.error().empty() ? "" : ": ", b.error()));
    default:
      return absl::InternalError(absl::StrCat("build ", b.id(), " ended the watch while ",
                                              StateName(b.state())));
  }
}

}  // namespace

absl::Status SubmitCommand(CommandContext& ctx) {
  const ParsedArgs& a = ctx.args();
  const bool detach = a.Bool("detach");
  const std::string fetch_dir = a.String("fetch");
  if (detach && a.Has("fetch")) return UsageError("--detach and --fetch cannot be combined");
  if (a.Has("fetch") && fetch_dir.empty()) return UsageError("--fetch needs a directory");
  int64_t priority = a.Int("priority", 0);
  if (priority < std::numeric_limits<int32_t>::min() ||
      priority > std::numeric_limits<int32_t>::max()) {
    return UsageError("--priority is out of range");
  }
  v1::SubmitBuildRequest request;
  v1::BuildSpec& spec = *request.mutable_spec();
  spec.set_slurm_version(a.positional()[0]);
  spec.set_recipe(a.String("recipe"));
  for (const std::string& v : a.List("variant")) {
    for (absl::string_view part : absl::StrSplit(v, ',', absl::SkipEmpty())) {
      spec.add_variants(std::string(part));
    }
  }
  spec.set_os(a.String("os"));
  spec.set_arch(a.String("arch"));
  request.set_request_id(a.Has("request-id") ? a.String("request-id") : NewRequestId());
  request.set_priority(static_cast<int32_t>(priority));
  request.set_force(a.Bool("force"));
  request.set_no_verify(a.Bool("no-verify"));
  request.set_keep_instance_on_failure(a.Bool("keep-instance-on-failure"));

  SF_ASSIGN_OR_RETURN(const ProgressMode mode, ChosenProgress(ctx));
  if (mode == ProgressMode::kRawJson && a.Has("fetch")) {
    return UsageError("--progress rawjson and --fetch cannot be combined; fetch afterwards");
  }
  SF_ASSIGN_OR_RETURN(Connection * conn, ctx.Connect());
  v1::SubmitBuildResponse response;
  SF_RETURN_IF_ERROR(conn->Unary([&](grpc::ClientContext& c) {
    return conn->builds().SubmitBuild(&c, request, &response);
  }));
  const v1::Build& submitted = response.build();
  const bool raw = mode == ProgressMode::kRawJson;
  if (raw) {
    SF_RETURN_IF_ERROR(WriteOut(ctx.out(), SubmittedJsonLine(response)));
  } else if (mode != ProgressMode::kQuiet) {
    ctx.err() << SubmitLine(response) << "\n";
  }
  for (const std::string& w : response.warnings()) ctx.err() << "sfactory: " << w << "\n";
  ctx.err() << std::flush;
  if (submitted.state() == v1::BUILD_STATE_QUEUED) WarnIfBuildsWait(*conn, ctx.err());
  if (detach) {
    if (ctx.json()) return PrintJson(ctx, response);
    if (!raw) ctx.out() << submitted.id() << "\n" << std::flush;
    return absl::OkStatus();
  }
  if (!ctx.json() && !raw) ctx.out() << submitted.id() << "\n" << std::flush;
  if (!IsTerminal(submitted.state()) && mode != ProgressMode::kQuiet && !raw) {
    ctx.err() << "following it; Ctrl-C detaches (the build keeps running; `sfactory cancel "
              << submitted.id() << "` stops it)\n"
              << std::flush;
  }

  v1::Build final_build = submitted;
  if (!IsTerminal(submitted.state())) {
    // With --json the log is not shown, so the watch starts at its end.
    uint64_t offset = ctx.json() ? submitted.log_size() : 0;
    SF_ASSIGN_OR_RETURN(final_build,
                        FollowBuild(ctx, *conn, submitted, offset, /*follow=*/true,
                                    ctx.json() ? ProgressMode::kQuiet : mode,
                                    /*state_lines=*/true));
  } else if (raw) {
    std::unique_ptr<Progress> progress = MakeProgress({.mode = mode, .out = &ctx.out(),
                                                       .err = &ctx.err(),
                                                       .build_id = submitted.id()});
    SF_RETURN_IF_ERROR(progress->Finish(submitted));
  }
  if (a.Has("fetch") && final_build.state() == v1::BUILD_STATE_SUCCEEDED &&
      final_build.artifacts().empty()) {
    SF_ASSIGN_OR_RETURN(final_build, GetBuild(*conn, submitted.id()));
  }
  absl::Status outcome = Outcome(final_build);

  std::vector<FetchedArtifact> fetched;
  if (outcome.ok() && a.Has("fetch")) {
    TransferMeter meter(ctx.err());
    SF_ASSIGN_OR_RETURN(fetched, FetchArtifacts(*conn, final_build, "", fetch_dir, ctx.err(),
                                                ctx.err_is_terminal() ? &meter : nullptr));
  }
  if (ctx.json()) {
    if (!a.Has("fetch") || !outcome.ok()) {
      SF_RETURN_IF_ERROR(PrintJson(ctx, final_build));
    } else {
      google::protobuf::Struct doc;
      SF_ASSIGN_OR_RETURN((*doc.mutable_fields())["build"], ToJsonValue(final_build));
      (*doc.mutable_fields())["fetched"] = FetchedJson(fetched);
      SF_RETURN_IF_ERROR(PrintJson(ctx, doc));
    }
  } else {
    PrintPaths(ctx.out(), fetched);
    if (outcome.ok() && mode != ProgressMode::kQuiet && !raw) {
      ctx.err() << "build " << final_build.id() << " succeeded in " << BuildDuration(final_build);
      if (!a.Has("fetch")) {
        ctx.err() << "; fetch it with `sfactory fetch " << final_build.id() << " -o DIR`";
      }
      ctx.err() << "\n" << std::flush;
    }
  }
  return outcome;
}

}  // namespace sfactory::client
