// submit, list, status, logs, cancel, fetch.
#include <limits>
#include <set>
#include <tuple>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
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
  err << std::flush;
}

// "[b123] running: build" etc.; only the parts a person needs.
std::string StateLine(const v1::Build& b) {
  std::string line = absl::StrCat("[", b.id(), "] ", StateName(b.state()));
  if (b.state() == v1::BUILD_STATE_QUEUED && b.queue_position() > 0) {
    absl::StrAppend(&line, ", position ", b.queue_position());
  } else if (b.state() == v1::BUILD_STATE_RUNNING && !b.current_phase().empty()) {
    absl::StrAppend(&line, ": ", b.current_phase());
  } else if (IsTerminal(b.state())) {
    absl::StrAppend(&line, " after ", BuildDuration(b));
    if (!b.error().empty()) absl::StrAppend(&line, ": ", b.error());
  }
  if (b.attempt() > 1) absl::StrAppend(&line, " (attempt ", b.attempt(), ")");
  return line;
}

absl::Status WriteOut(std::ostream& out, absl::string_view data) {
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.flush();
  if (!out) return absl::InternalError("cannot write to stdout");
  return absl::OkStatus();
}

absl::StatusOr<v1::Build> GetBuild(Connection& conn, const std::string& id) {
  v1::GetBuildRequest request;
  request.set_build_id(id);
  v1::Build build;
  SF_RETURN_IF_ERROR(conn.Unary(
      [&](grpc::ClientContext& c) { return conn.builds().GetBuild(&c, request, &build); }));
  return build;
}

google::protobuf::Value FetchedJson(const std::vector<FetchedArtifact>& fetched) {
  google::protobuf::Value list;
  for (const FetchedArtifact& f : fetched) {
    google::protobuf::Value item;
    auto& fields = *item.mutable_struct_value()->mutable_fields();
    fields["name"] = JsonString(f.name);
    fields["path"] = JsonString(f.path.string());
    fields["sha256"] = JsonString(f.sha256);
    fields["size"] = JsonNumber(static_cast<double>(f.size));
    fields["already_present"].set_bool_value(f.already_present);
    fields["resumed_from"] = JsonNumber(static_cast<double>(f.resumed_from));
    *list.mutable_list_value()->add_values() = std::move(item);
  }
  if (!list.has_list_value()) list.mutable_list_value();
  return list;
}

void PrintPaths(std::ostream& out, const std::vector<FetchedArtifact>& fetched) {
  for (const FetchedArtifact& f : fetched) out << f.path.string() << "\n";
  out.flush();
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

  SF_ASSIGN_OR_RETURN(Connection * conn, ctx.Connect());
  v1::SubmitBuildResponse response;
  SF_RETURN_IF_ERROR(conn->Unary([&](grpc::ClientContext& c) {
    return conn->builds().SubmitBuild(&c, request, &response);
  }));
  const v1::Build& submitted = response.build();
  ctx.err() << SubmitLine(response) << "\n" << std::flush;
  if (submitted.state() == v1::BUILD_STATE_QUEUED) WarnIfBuildsWait(*conn, ctx.err());
  if (detach) {
    if (ctx.json()) return PrintJson(ctx, response);
    ctx.out() << submitted.id() << "\n" << std::flush;
    return absl::OkStatus();
  }
  if (!ctx.json()) ctx.out() << submitted.id() << "\n" << std::flush;
  if (!IsTerminal(submitted.state())) {
    ctx.err() << "following the log; Ctrl-C stops following, the build keeps running "
                 "(`sfactory cancel "
              << submitted.id() << "` stops it)\n"
              << std::flush;
  }

  std::tuple<v1::BuildState, std::string, int32_t> shown{submitted.state(), "",
                                                         submitted.queue_position()};
  WatchHandlers handlers;
  handlers.on_log = [&](absl::string_view data) {
    return ctx.json() ? absl::OkStatus() : WriteOut(ctx.out(), data);
  };
  handlers.on_build = [&](const v1::Build& b) {
    std::tuple<v1::BuildState, std::string, int32_t> now{b.state(), b.current_phase(),
                                                         b.queue_position()};
    if (now == shown) return;
    shown = now;
    ctx.err() << StateLine(b) << "\n" << std::flush;
  };
  handlers.on_note = [&](absl::string_view note) {
    ctx.err() << "sfactory: " << note << "\n" << std::flush;
  };
  v1::Build final_build = submitted;
  if (!IsTerminal(submitted.state())) {
    // With --json the log is not shown, so the watch starts at its end.
    uint64_t offset = ctx.json() ? submitted.log_size() : 0;
    SF_ASSIGN_OR_RETURN(WatchResult watched,
                        WatchBuild(*conn, submitted.id(), offset, /*follow=*/true, handlers));
    if (watched.has_build) final_build = watched.build;
  }
  if (!IsTerminal(final_build.state()) ||
      (a.Has("fetch") && final_build.state() == v1::BUILD_STATE_SUCCEEDED &&
       final_build.artifacts().empty())) {
    SF_ASSIGN_OR_RETURN(final_build, GetBuild(*conn, submitted.id()));
  }
  absl::Status outcome = Outcome(final_build);

  std::vector<FetchedArtifact> fetched;
  if (outcome.ok() && a.Has("fetch")) {
    SF_ASSIGN_OR_RETURN(fetched, FetchArtifacts(*conn, final_build, "", fetch_dir, ctx.err()));
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
    if (outcome.ok()) {
      ctx.err() << "build " << final_build.id() << " succeeded in " << BuildDuration(final_build);
      if (!a.Has("fetch")) {
        ctx.err() << "; fetch it with `sfactory fetch " << final_build.id() << " -o DIR`";
      }
      ctx.err() << "\n" << std::flush;
    }
  }
  return outcome;
}

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
  if (ctx.json()) return PrintJson(ctx, combined);

  if (combined.builds().empty()) {
    ctx.err() << "no builds\n";
  } else {
    Table table({"ID", "STATE", "VERSION", "RECIPE", "OWNER", "CREATED", "DURATION"});
    for (const v1::Build& b : combined.builds()) {
      table.Add({b.id(), StateName(b.state()), VersionText(b), SpecText(b), b.owner(),
                 FormatLocalTime(b.created_at()), BuildDuration(b)});
    }
    ctx.out() << table.Render();
  }
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

absl::Status LogsCommand(CommandContext& ctx) {
  const ParsedArgs& a = ctx.args();
  int64_t offset = a.Int("offset", 0);
  if (offset < 0) return UsageError("--offset must not be negative");
  const std::string id = a.positional()[0];
  SF_ASSIGN_OR_RETURN(Connection * conn, ctx.Connect());
  std::string collected;  // --json only
  WatchHandlers handlers;
  handlers.on_log = [&](absl::string_view data) {
    if (ctx.json()) {
      collected.append(data.data(), data.size());
      return absl::OkStatus();
    }
    return WriteOut(ctx.out(), data);
  };
  handlers.on_note = [&](absl::string_view note) {
    ctx.err() << "sfactory: " << note << "\n" << std::flush;
  };
  SF_ASSIGN_OR_RETURN(WatchResult watched, WatchBuild(*conn, id, static_cast<uint64_t>(offset),
                                                      a.Bool("follow"), handlers));
  if (!ctx.json()) return absl::OkStatus();
  google::protobuf::Struct doc;
  auto& fields = *doc.mutable_fields();
  fields["build_id"] = JsonString(id);
  fields["offset"] = JsonNumber(static_cast<double>(offset));
  fields["next_offset"] = JsonNumber(static_cast<double>(watched.next_offset));
  fields["state"] = JsonString(watched.has_build ? StateName(watched.build.state()) : "");
  fields["log"] = JsonString(collected);
  return PrintJson(ctx, doc);
}

absl::Status CancelCommand(CommandContext& ctx) {
  v1::CancelBuildRequest request;
  request.set_build_id(ctx.args().positional()[0]);
  request.set_reason(ctx.args().String("reason"));
  SF_ASSIGN_OR_RETURN(Connection * conn, ctx.Connect());
  v1::Build build;
  SF_RETURN_IF_ERROR(conn->Unary(
      [&](grpc::ClientContext& c) { return conn->builds().CancelBuild(&c, request, &build); }));
  if (ctx.json()) return PrintJson(ctx, build);
  ctx.out() << build.id() << "  " << StateName(build.state()) << "\n";
  return absl::OkStatus();
}

absl::Status FetchCommand(CommandContext& ctx) {
  const ParsedArgs& a = ctx.args();
  const std::string dir = a.String("output", ".");
  if (dir.empty()) return UsageError("--output needs a directory");
  SF_ASSIGN_OR_RETURN(Connection * conn, ctx.Connect());
  SF_ASSIGN_OR_RETURN(v1::Build build, GetBuild(*conn, a.positional()[0]));
  SF_ASSIGN_OR_RETURN(std::vector<FetchedArtifact> fetched,
                      FetchArtifacts(*conn, build, a.String("name"), dir, ctx.err()));
  if (!ctx.json()) {
    PrintPaths(ctx.out(), fetched);
    return absl::OkStatus();
  }
  google::protobuf::Struct doc;
  (*doc.mutable_fields())["build_id"] = JsonString(build.id());
  (*doc.mutable_fields())["dir"] = JsonString(dir);
  (*doc.mutable_fields())["fetched"] = FetchedJson(fetched);
  return PrintJson(ctx, doc);
}

}  // namespace sfactory::client
