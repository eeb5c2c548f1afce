// What the command files share: the context, JSON and listing output, and
// the calls more than one command makes.
#include "client/commands.h"
#include "client/credentials.h"
#include "client/exit_codes.h"
#include "client/output.h"
#include "client/watch.h"
#include "common/echo.h"
#include "common/spec.h"
#include "common/status.h"

namespace sfactory::client {

absl::StatusOr<Connection*> CommandContext::Connect() {
  if (connection_ == nullptr) {
    SettingFlags flags;
    flags.address = args_.String("address");
    flags.config = args_.String("config");
    flags.ca_file = args_.String("ca-file");
    flags.cert_file = args_.String("cert-file");
    flags.key_file = args_.String("key-file");
    flags.token_file = args_.String("token-file");
    SF_ASSIGN_OR_RETURN(ConnectionSettings settings, ResolveSettings(flags, env_));
    SF_ASSIGN_OR_RETURN(ChannelSecurity security, LoadChannelSecurity(settings, err_));
    SF_ASSIGN_OR_RETURN(connection_, Connection::Open(security, connect_));
  }
  return connection_.get();
}

absl::Status CommandContext::Call(
    const std::function<grpc::Status(Connection&, grpc::ClientContext&)>& call) {
  SF_ASSIGN_OR_RETURN(Connection * conn, Connect());
  return conn->Unary([&](grpc::ClientContext& context) { return call(*conn, context); });
}

absl::Status PrintJson(CommandContext& ctx, const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = ToJson(message);
  if (!json.ok()) return json.status();
  ctx.out() << *json << std::flush;
  return absl::OkStatus();
}

absl::Status PrintListing(CommandContext& ctx, const google::protobuf::Message& response,
                          int rows, absl::string_view none,
                          const std::function<std::string()>& render) {
  if (ctx.json()) return PrintJson(ctx, response);
  if (rows == 0) {
    ctx.err() << none << "\n";
  } else {
    ctx.out() << render();
  }
  return absl::OkStatus();
}

absl::Status WriteOut(std::ostream& out, absl::string_view data) {
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.flush();
  if (!out) return absl::InternalError("cannot write to stdout");
  return absl::OkStatus();
}

absl::Status LogWriter::Write(absl::string_view data) {
  if (!terminal_) return WriteOut(out_, data);
  std::string chunk = std::move(held_);
  held_.clear();
  chunk.append(data.data(), data.size());
  // 0xc2 starts the UTF-8 form of the C1 controls: wait for the next byte.
  if (!chunk.empty() && static_cast<unsigned char>(chunk.back()) == 0xc2) {
    held_ = chunk.substr(chunk.size() - 1);
    chunk.pop_back();
  }
  return WriteOut(out_, EscapeControl(chunk));
}

absl::Status LogWriter::Finish() {
  if (held_.empty()) return absl::OkStatus();
  std::string last = std::move(held_);
  held_.clear();
  return WriteOut(out_, EscapeControl(last));
}

absl::StatusOr<v1::Build> GetBuild(Connection& conn, const std::string& id) {
  v1::GetBuildRequest request;
  request.set_build_id(id);
  v1::Build build;
  SF_RETURN_IF_ERROR(conn.Unary(
      [&](grpc::ClientContext& c) { return conn.builds().GetBuild(&c, request, &build); }));
  return build;
}

absl::StatusOr<ProgressMode> ChosenProgress(CommandContext& ctx) {
  SF_ASSIGN_OR_RETURN(ProgressMode mode, ParseProgressMode(ctx.args().String("progress", "auto")));
  if (ctx.json() && ctx.args().Has("progress")) {
    return UsageError(
        "--json and --progress cannot be combined (--progress rawjson streams JSON lines)");
  }
  return ResolveProgressMode(mode, ctx.out_is_terminal(), ctx.err_is_terminal(),
                             ctx.Env("TERM").value_or(""));
}

namespace {

// The step times of the newest succeeded build of the same series, recipe
// and OS, for the tty view. Best effort: no estimates when the call fails.
StepEstimates LookupEstimates(Connection& conn, const v1::Build& build) {
  v1::ListBuildsRequest request;
  request.add_states(v1::BUILD_STATE_SUCCEEDED);
  request.set_slurm_version(SeriesOf(build.spec().slurm_version()));
  request.set_page_size(50);
  v1::ListBuildsResponse response;
  absl::Status s = conn.Unary([&](grpc::ClientContext& c) {
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return conn.builds().ListBuilds(&c, request, &response);
  });
  if (!s.ok()) return {};
  return EstimatesFrom(build, {response.builds().begin(), response.builds().end()});
}

}  // namespace

absl::StatusOr<v1::Build> FollowBuild(CommandContext& ctx, Connection& conn, const v1::Build& build,
                                      uint64_t offset, bool follow, ProgressMode mode,
                                      bool state_lines) {
  ProgressOptions options;
  options.mode = mode;
  options.out = &ctx.out();
  options.err = &ctx.err();
  options.out_is_terminal = ctx.out_is_terminal();
  options.state_lines = state_lines;
  options.build_id = build.id();
  options.log_offset = offset;
  if (mode == ProgressMode::kTty) options.estimates = LookupEstimates(conn, build);
  std::unique_ptr<Progress> progress = MakeProgress(std::move(options));
  if (follow) DetachOnInterrupt(build.id(), mode == ProgressMode::kTty);
  progress->OnBuild(build);

  WatchHandlers handlers;
  handlers.on_log = [&](absl::string_view data) { return progress->OnLog(data); };
  handlers.on_build = [&](const v1::Build& b) { progress->OnBuild(b); };
  handlers.on_note = [&](absl::string_view note) { progress->OnNote(note); };
  v1::Build last = build;
  absl::StatusOr<WatchResult> watched = WatchBuild(conn, build.id(), offset, follow, handlers);
  if (follow) EndDetachOnInterrupt();
  if (!watched.ok()) {
    (void)progress->Finish(last);
    return watched.status();
  }
  if (watched->has_build) last = watched->build;
  if (follow && !IsTerminal(last.state())) {
    if (auto fresh = GetBuild(conn, build.id()); fresh.ok()) last = *std::move(fresh);
  }
  SF_RETURN_IF_ERROR(progress->Finish(last));
  return last;
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

}  // namespace sfactory::client
