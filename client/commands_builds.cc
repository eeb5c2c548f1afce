// list, status, cancel.
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/output.h"
#include "common/status.h"

namespace sfactory::client {

absl::Status ListCommand(CommandContext& ctx) {
  const ParsedArgs& a = ctx.args();
  v1::ListBuildsRequest request;
  std::set<v1::BuildState> states;
  for (const std::string& s : a.List("state")) {
    for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipEmpty())) {
      absl::StatusOr<v1::BuildState> state = ParseState(part);
      if (!state.ok()) return state.status();
      if (states.insert(*state).second) request.add_states(*state);
    }
  }
  request.set_owner(a.String("owner"));
  request.set_slurm_version(a.String("version"));
  if (a.Has("limit")) {
    int64_t limit = a.Int("limit", 0);
    if (limit < 1 || limit > 1000) return UsageError("--limit must be between 1 and 1000");
    request.set_page_size(static_cast<int32_t>(limit));
  }
  request.set_page_token(a.String("page-token"));
  const bool all = a.Bool("all");

  SF_ASSIGN_OR_RETURN(Connection * conn, ctx.Connect());
  v1::ListBuildsResponse combined;
  std::set<std::string> seen_tokens;
  for (;;) {
    v1::ListBuildsResponse page;
    SF_RETURN_IF_ERROR(conn->Unary(
        [&](grpc::ClientContext& c) { return conn->builds().ListBuilds(&c, request, &page); }));
    combined.mutable_builds()->MergeFrom(page.builds());
    combined.set_next_page_token(page.next_page_token());
    if (!all || page.next_page_token().empty()) break;
    if (!seen_tokens.insert(page.next_page_token()).second) {
      return absl::InternalError("the daemon returned the same page token twice");
    }
    request.set_page_token(page.next_page_token());
  }
  SF_RETURN_IF_ERROR(PrintListing(ctx, combined, combined.builds_size(), "no builds", [&] {
    Table table({"ID", "STATE", "VERSION", "RECIPE", "OWNER", "CREATED", "DURATION"});
    for (const v1::Build& b : combined.builds()) {
      table.Add({b.id(), StateName(b.state()), VersionText(b), SpecText(b), b.owner(),
                 FormatLocalTime(b.created_at()), BuildDuration(b)});
    }
    return table.Render();
  }));
  if (ctx.json()) return absl::OkStatus();
  if (!combined.next_page_token().empty()) {
    ctx.err() << "more builds: sfactory list --page-token " << combined.next_page_token()
              << " (or --all)\n";
  }
  return absl::OkStatus();
}

absl::Status StatusCommand(CommandContext& ctx) {
  SF_ASSIGN_OR_RETURN(Connection * conn, ctx.Connect());
  SF_ASSIGN_OR_RETURN(v1::Build b, GetBuild(*conn, ctx.args().positional()[0]));
  if (ctx.json()) return PrintJson(ctx, b);

  KeyValues kv;
  kv.Add("id", b.id());
  std::string state = StateName(b.state());
  if (b.state() == v1::BUILD_STATE_QUEUED && b.queue_position() > 0) {
    absl::StrAppend(&state, ", position ", b.queue_position());
  }
  if (b.state() == v1::BUILD_STATE_RUNNING && !b.current_phase().empty()) {
    absl::StrAppend(&state, ", phase ", b.current_phase());
  }
  kv.Add("state", state);
  if (!b.error().empty()) kv.Add("error", b.error());
  kv.Add("version", VersionText(b));
  kv.Add("recipe", b.spec().recipe());
  if (!b.spec().variants().empty()) kv.Add("variants", absl::StrJoin(b.spec().variants(), ", "));
  kv.Add("target", absl::StrCat(b.spec().os(), "/", b.spec().arch()));
  kv.Add("owner", b.owner());
  kv.Add("priority", absl::StrCat(b.priority()));
  kv.Add("verify", b.verify() ? "yes" : "no");
  if (!b.provider().empty()) kv.Add("provider", b.provider());
  kv.Add("created", FormatLocalTime(b.created_at()));
  kv.Add("started", FormatLocalTime(b.started_at()));
  kv.Add("finished", FormatLocalTime(b.finished_at()));
  kv.Add("duration", BuildDuration(b));
  if (b.attempt() > 1) kv.Add("attempt", absl::StrCat(b.attempt()));
  kv.Add("log", FormatSize(b.log_size()));
  kv.Add("digest", b.digest());
  if (!b.request_id().empty()) kv.Add("request id", b.request_id());
  ctx.out() << kv.Render();
  if (!b.phases().empty()) {
    Table phases({"  PHASE", "RESULT", "TIME"});
    for (const v1::PhaseTiming& p : b.phases()) {
      phases.Add({absl::StrCat("  ", p.name()), p.result(),
                  HumanDuration(absl::Seconds(p.seconds()))});
    }
    ctx.out() << "\nphases:\n" << phases.Render();
  }
  if (!b.artifacts().empty()) {
    Table artifacts({"  ARTIFACT", "KIND", "SIZE", "SHA256"});
    for (const v1::Artifact& art : b.artifacts()) {
      artifacts.Add({absl::StrCat("  ", art.name()), art.kind(), FormatSize(art.size()),
                     art.sha256()});
    }
    ctx.out() << "\nartifacts:\n" << artifacts.Render();
  }
  return absl::OkStatus();
}

absl::Status CancelCommand(CommandContext& ctx) {
  v1::CancelBuildRequest request;
  request.set_build_id(ctx.args().positional()[0]);
  request.set_reason(ctx.args().String("reason"));
  v1::Build build;
  SF_RETURN_IF_ERROR(ctx.Call([&](Connection& conn, grpc::ClientContext& c) {
    return conn.builds().CancelBuild(&c, request, &build);
  }));
  if (ctx.json()) return PrintJson(ctx, build);
  ctx.out() << build.id() << "  " << StateName(build.state()) << "\n";
  return absl::OkStatus();
}

}  // namespace sfactory::client
